"""Posting a webhook safely with the standard library (requests stays in `patchworks`).

The host is resolved once, every address it resolves to is checked (no loopback, private,
link-local, multicast or reserved addresses unless CONSOLE_WEBHOOK_ALLOW_PRIVATE), and the
connection is made to that checked address, with the URL's host name kept for the Host header,
TLS SNI and certificate checks: a DNS answer that changes between the check and the connection
(rebinding) cannot redirect the post. Redirects are never followed; bodies are read only for a
short error note.

The timeout is a deadline for the whole post (connecting, sending, the answer), not for each
read: a receiver that trickles its answer a byte at a time is cut off when it passes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "Deployments-Console-Webhooks/1"
BODY_NOTE_LIMIT = 200


class DeliveryRefused(Exception):
    """The console will not post to this address (a setting would have to allow it)."""


class DeliveryFailed(Exception):
    """The post did not succeed this time; it may on a later attempt."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def signature(secret: str, timestamp: str, body: bytes, event_id: str = "") -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `timestamp + "." + event id + "." + body`, keyed
    with the secret: the event id a receiver de-duplicates by is signed too."""
    message = timestamp.encode() + b"." + event_id.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, event_id: str, attempt: int = 1) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Console-Event-Id": event_id,
        "X-Console-Timestamp": timestamp,
        "X-Console-Signature": signature(secret, timestamp, body, event_id),
        "X-Console-Attempt": str(attempt),
    }


def check_url(url: str, *, allow_http: bool | None = None) -> Target:
    """The URL's parts, or DeliveryRefused for a scheme or shape the console will not use."""
    allow_http = settings.CONSOLE_WEBHOOK_ALLOW_HTTP if allow_http is None else allow_http
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DeliveryRefused("The address is not a valid URL.") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise DeliveryRefused(
            "Only https:// addresses are allowed."
            if parts.scheme == "http"
            else "The address must start with https://."
        )
    if not parts.hostname:
        raise DeliveryRefused("The address has no host name.")
    if parts.username or parts.password:
        raise DeliveryRefused("The address must not contain a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default_port, path)


def address_refusal(address: str) -> str | None:
    """Why an IP address may not be posted to, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{ip} is this machine (loopback)"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_private:
        return f"{ip} is a private network address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public internet address"
    return None


def resolve(target: Target, *, allow_private: bool | None = None) -> str:
    """The checked address to connect to: every address the name resolves to must be allowed."""
    allow_private = (
        settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE if allow_private is None else allow_private
    )
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DeliveryFailed(f"The host name {target.host} could not be resolved.") from exc
    # An IPv4 or IPv6 socket address starts with the address as text.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DeliveryFailed(f"The host name {target.host} has no address.")
    if not allow_private:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise DeliveryRefused(
                    f"Not sent: {target.host} resolves to {refusal}, which webhooks may not "
                    "reach (CONSOLE_WEBHOOK_ALLOW_PRIVATE allows it)."
                )
    return addresses[0]


def _too_slow(timeout: float) -> str:
    return f"No answer within {timeout:g} seconds (the whole answer must arrive by then)."


def _cut_off(connection: http.client.HTTPConnection, cut_off: threading.Event) -> None:
    """At the deadline: end the connection, which wakes a read or write blocked on it."""
    cut_off.set()
    sock = connection.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> int:
    """POST the body, all done within `timeout` seconds (CONSOLE_WEBHOOK_TIMEOUT); the 2xx
    status, or DeliveryRefused / DeliveryFailed."""
    timeout = settings.CONSOLE_WEBHOOK_TIMEOUT if timeout is None else timeout
    target = check_url(url)
    address = resolve(target)
    if target.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    cut_off = threading.Event()

    def connect_to_checked(_address, timeout=timeout, source_address=None):
        sock = socket.create_connection((address, target.port), timeout, source_address)
        if cut_off.is_set():
            sock.close()
            raise TimeoutError("deadline passed while connecting")
        return sock

    # http.client connects through this hook; TLS still verifies the URL's host name.
    connection._create_connection = connect_to_checked  # type: ignore[attr-defined]
    deadline = threading.Timer(timeout, _cut_off, args=(connection, cut_off))
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        note = response.read(2048).decode("utf-8", "replace")
    except ssl.SSLError as exc:
        if cut_off.is_set():
            raise DeliveryFailed(_too_slow(timeout)) from exc
        raise DeliveryFailed(f"The secure connection failed: {exc.reason or exc}.") from exc
    except TimeoutError as exc:
        raise DeliveryFailed(_too_slow(timeout)) from exc
    except (OSError, http.client.HTTPException) as exc:
        if cut_off.is_set():
            raise DeliveryFailed(_too_slow(timeout)) from exc
        raise DeliveryFailed(f"Could not connect: {exc.__class__.__name__}: {exc}") from exc
    finally:
        deadline.cancel()
        connection.close()
    if cut_off.is_set():  # the answer was read, but only after the deadline
        raise DeliveryFailed(_too_slow(timeout))
    status = response.status
    if 300 <= status < 400:
        location = response.getheader("Location", "")[:100]
        raise DeliveryFailed(
            f"The receiver answered {status}, a redirect to {location or 'elsewhere'}, "
            "which is not followed.",
            status,
        )
    if not 200 <= status < 300:
        text = " ".join(note.split())[:BODY_NOTE_LIMIT]
        raise DeliveryFailed(f"The receiver answered {status}: {text}".rstrip(": "), status)
    return status
