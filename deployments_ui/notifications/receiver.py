"""A small local webhook receiver for trying webhooks out (`manage.py webhook_receiver`) and for
tests: it keeps what it was sent, answers 200 (or a chosen status), and lists posts on GET."""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A running receiver: `url`, what it `received`, and the `answers` to give (a queue of
    (status, headers) tuples; 200 once they run out)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    echo: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        # An IPv4 or IPv6 server: its address is (host text, port, ...).
        host, port = cast(tuple[str, int], self.server.server_address[:2])
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(host: str = "127.0.0.1", port: int = 0, *, echo: bool = False) -> Receiver:
    """Start a receiver in a background thread (port 0: any free port)."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            item = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
            with receiver.lock:
                receiver.received.append(item)
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
            if receiver.echo:
                print(_describe(item), flush=True)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"<b>not ok</b>")

        def do_GET(self) -> None:
            with receiver.lock:
                items = list(receiver.received)
            rows = "".join(
                f"<li><pre>{html.escape(_describe(item))}</pre></li>" for item in reversed(items)
            )
            page = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                "<title>Webhook receiver</title></head><body><main><h1>Webhook receiver</h1>"
                f"<p>{len(items)} received</p><ol>{rows}</ol></main></body></html>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page.encode())

        def log_message(self, format, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    receiver = Receiver(server, echo=echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def _describe(item: Received) -> str:
    headers = {k: v for k, v in item.headers.items() if k.lower().startswith("x-console")}
    try:
        body = json.dumps(json.loads(item.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = item.body.decode("utf-8", "replace")
    lines = [f"POST {item.path}", *(f"{k}: {v}" for k, v in headers.items()), body]
    return "\n".join(lines)
