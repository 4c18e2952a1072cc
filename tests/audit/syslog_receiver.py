"""A minimal syslog receiver for the stream tests, run as its own process.

`python tests/audit/syslog_receiver.py udp|tcp PORT OUT` listens on 127.0.0.1:PORT (0: any free
port), prints the port it got, and appends each message it receives to OUT, one a line. Over
TCP it reads RFC 6587 octet-counted frames ("LEN SP MSG") and refuses anything else.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def _frames(conn: socket.socket):
    buffer = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            if buffer:
                raise ValueError("a frame was cut short")
            return
        buffer += chunk
        while b" " in buffer:
            length, _, rest = buffer.partition(b" ")
            if not length.isdigit():
                raise ValueError(f"not octet-counted: {buffer[:40]!r}")
            if len(rest) < int(length):
                break
            yield rest[: int(length)]
            buffer = rest[int(length) :]


def serve_tcp(port: int, out: Path) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            with conn, out.open("ab") as handle:
                for frame in _frames(conn):
                    handle.write(frame + b"\n")
                    handle.flush()


def serve_udp(port: int, out: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", port))
        print(server.getsockname()[1], flush=True)
        with out.open("ab") as handle:
            while True:
                message, _ = server.recvfrom(65536)
                handle.write(message + b"\n")
                handle.flush()


if __name__ == "__main__":
    kind, port, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    (serve_tcp if kind == "tcp" else serve_udp)(port, out)
