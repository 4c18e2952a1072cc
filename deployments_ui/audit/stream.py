"""The audit stream: every event, as one JSON line, to the company's log collector (SIEM).

Destinations come from `CONSOLE_AUDIT_STREAM` (a comma list): `stdout`, `file:PATH`,
`syslog://host:port` (RFC 5424 over UDP) and `syslog+tcp://host:port` (RFC 5424 over TCP,
octet-counted framing). The trail itself is the outbox: one `AuditStreamCursor` row per
destination remembers the last event delivered, and `deliver` sends what follows it, in id
order, in bounded batches, within a total time. Nothing here runs while a change is recorded,
so a receiver that is down never holds a change up; it is caught up once it answers again.

Delivery is at least once: a batch that fails part-way is sent again whole, so a receiver may
see an event twice, never out of order after one it has, and never miss one. Each line carries
the event's id, previous hash and hash, so the receiver can check the chain itself.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.utils import timezone

from deployments_ui.audit import chain
from deployments_ui.audit.models import AuditChainHead, AuditEvent, AuditStreamCursor
from deployments_ui.core import leases

LINE_TYPE = "audit_event"
# RFC 5424: facility 13 (log audit), severity 6 (informational).
SYSLOG_PRI = 13 * 8 + 6
APP_NAME = "deployments-console"
KINDS = ("stdout", "file", "syslog", "syslog+tcp")


# The line format (the stream's and the retention export's)


def event_line(event: AuditEvent, *, keyed: bool, fingerprint: str) -> dict[str, Any]:
    """What a receiver needs to check the chain: id, links, and the exact hashed content."""
    return {
        "type": LINE_TYPE,
        "id": event.pk,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
        "hashed_with": "hmac-sha256" if keyed else "sha256",
        "key_fingerprint": fingerprint if keyed else "",
        "content": chain.hashed_content(event),
    }


def dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lines_for(events: Iterable[AuditEvent]) -> Iterator[str]:
    head = AuditChainHead.objects.filter(pk=chain.HEAD_ID).first()
    keyed_from = head.keyed_from_id if head else None
    fingerprint = chain.key_fingerprint()
    for event in events:
        keyed = keyed_from is not None and event.pk >= keyed_from
        yield dumps(event_line(event, keyed=keyed, fingerprint=fingerprint))


# Destinations


@dataclass(frozen=True)
class Destination:
    spec: str
    kind: str
    target: str = ""
    port: int = 0

    @property
    def label(self) -> str:
        """The destination in plain words."""
        if self.kind == "stdout":
            return "the worker's standard output"
        if self.kind == "file":
            return f"the file {self.target}"
        protocol = "TCP" if self.kind == "syslog+tcp" else "UDP"
        return f"syslog at {self.target}:{self.port} ({protocol})"

    @property
    def lease_name(self) -> str:
        return "audit-stream:" + hashlib.sha256(self.spec.encode()).hexdigest()[:20]


def parse_destination(spec: str) -> Destination:
    """One item of CONSOLE_AUDIT_STREAM; ValueError says what is wrong in plain words."""
    spec = spec.strip()
    if spec == "stdout":
        return Destination(spec, "stdout")
    if spec.startswith("file:"):
        path = spec.removeprefix("file:")
        if not path:
            raise ValueError(f"{spec!r} names no file: write file:/path/to/audit.jsonl")
        return Destination(spec, "file", path)
    parts = urlsplit(spec)
    if parts.scheme in {"syslog", "syslog+tcp"}:
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or not port or parts.path not in {"", "/"}:
            raise ValueError(f"{spec!r} must be {parts.scheme}://host:port")
        return Destination(spec, parts.scheme, parts.hostname, port)
    raise ValueError(
        f"{spec!r} is not a destination: use stdout, file:PATH, syslog://host:port or "
        "syslog+tcp://host:port"
    )


def configured() -> list[Destination]:
    """The valid destinations of CONSOLE_AUDIT_STREAM (a Django check names invalid ones)."""
    destinations = []
    for spec in settings.CONSOLE_AUDIT_STREAM:
        try:
            destinations.append(parse_destination(spec))
        except ValueError:
            continue
    return destinations


def check_stream_destinations(
    app_configs: object = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """E010: a CONSOLE_AUDIT_STREAM item that is not a destination (registered by chain.py,
    which the app loads at start)."""
    errors: list[checks.CheckMessage] = []
    for spec in settings.CONSOLE_AUDIT_STREAM:
        try:
            parse_destination(spec)
        except ValueError as exc:
            errors.append(checks.Error(f"CONSOLE_AUDIT_STREAM: {exc}", id="deployments_ui.E010"))
    return errors


# Sending


class Sender(Protocol):
    def send(self, line: str, event: AuditEvent) -> None: ...


class _StdoutSender:
    def send(self, line: str, event: AuditEvent) -> None:
        sys.stdout.write(line + "\n")


class _FileSender:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def send(self, line: str, event: AuditEvent) -> None:
        self.handle.write(line + "\n")


class _SyslogSender:
    def __init__(self, sock: socket.socket, framed: bool) -> None:
        self.sock = sock
        self.framed = framed
        self.hostname = (socket.gethostname() or "-")[:255]

    def send(self, line: str, event: AuditEvent) -> None:
        message = syslog_message(line, event.occurred_at, self.hostname).encode()
        if self.framed:
            self.sock.sendall(f"{len(message)} ".encode() + message)
        else:
            self.sock.send(message)


def syslog_message(line: str, occurred_at: datetime, hostname: str) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG."""
    stamp = occurred_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"<{SYSLOG_PRI}>1 {stamp} {hostname} {APP_NAME} - audit - {line}"


@contextmanager
def open_sender(destination: Destination, timeout: float) -> Iterator[Sender]:
    if destination.kind == "stdout":
        yield _StdoutSender()
        sys.stdout.flush()
    elif destination.kind == "file":
        with Path(destination.target).open("a", encoding="utf-8") as handle:
            yield _FileSender(handle)
            handle.flush()
    elif destination.kind == "syslog+tcp":
        address = (destination.target, destination.port)
        with socket.create_connection(address, timeout=timeout) as sock:
            yield _SyslogSender(sock, framed=True)
            sock.shutdown(socket.SHUT_WR)
    else:
        info = socket.getaddrinfo(destination.target, destination.port, type=socket.SOCK_DGRAM)
        family, kind, proto, _, udp_address = info[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(udp_address)  # a refused datagram then fails the next send
            yield _SyslogSender(sock, framed=False)


def plain_error(destination: Destination, error: BaseException) -> str:
    """What went wrong, in words an operator can act on."""
    where = destination.label
    if isinstance(error, ConnectionRefusedError):
        return f"Nothing is listening at {where}: the receiver is down or the port is wrong."
    if isinstance(error, TimeoutError | socket.timeout):
        return f"{where[0].upper()}{where[1:]} did not answer in time."
    if isinstance(error, socket.gaierror):
        return f"The host name of {where} could not be found."
    if isinstance(error, FileNotFoundError):
        return f"The folder of {where} does not exist."
    if isinstance(error, PermissionError):
        return f"The worker may not write to {where}."
    if isinstance(error, ConnectionError):
        return f"The connection to {where} was lost."
    if isinstance(error, OSError) and error.errno == 90:  # EMSGSIZE
        return f"An event is too large for {where}: use syslog+tcp:// instead."
    return f"Could not send to {where} ({type(error).__name__})."


# Delivery


@dataclass(frozen=True)
class DeliveryReport:
    destination: Destination
    sent: int
    error: str = ""
    skipped: bool = False  # another worker is delivering to it right now


def deliver(*, seconds: float | None = None, batch: int | None = None) -> list[DeliveryReport]:
    """Send every destination what follows its cursor, within `seconds` in all."""
    seconds = settings.CONSOLE_AUDIT_STREAM_SECONDS if seconds is None else seconds
    batch = batch or settings.CONSOLE_AUDIT_STREAM_BATCH
    deadline = time.monotonic() + seconds
    holder = leases.holder_name()
    return [_deliver_to(destination, deadline, batch, holder) for destination in configured()]


def _deliver_to(
    destination: Destination, deadline: float, batch: int, holder: str
) -> DeliveryReport:
    lease_seconds = int(max(1.0, deadline - time.monotonic())) + 30
    if not leases.acquire(destination.lease_name, holder, lease_seconds):
        return DeliveryReport(destination, 0, skipped=True)
    try:
        return _send_batches(destination, deadline, batch)
    finally:
        leases.release(destination.lease_name, holder)


def _send_batches(destination: Destination, deadline: float, batch: int) -> DeliveryReport:
    cursor, _ = AuditStreamCursor.objects.get_or_create(destination=destination.spec)
    sent = 0
    while time.monotonic() < deadline:
        events = list(AuditEvent.objects.filter(id__gt=cursor.last_event_id).order_by("id")[:batch])
        if not events:
            break
        try:
            _send_batch(destination, events, deadline)
        except OSError as error:
            message = plain_error(destination, error)
            AuditStreamCursor.objects.filter(pk=cursor.pk).update(
                last_error=message[:500], last_error_at=timezone.now()
            )
            return DeliveryReport(destination, sent, message)
        last = events[-1]
        cursor.last_event_id, cursor.last_hash = last.pk, last.hash
        cursor.last_success_at, cursor.last_error = timezone.now(), ""
        cursor.save(update_fields=["last_event_id", "last_hash", "last_success_at", "last_error"])
        sent += len(events)
    return DeliveryReport(destination, sent)


def _send_batch(destination: Destination, events: list[AuditEvent], deadline: float) -> None:
    timeout = max(0.5, min(10.0, deadline - time.monotonic()))
    with open_sender(destination, timeout) as sender:
        for event, line in zip(events, lines_for(events), strict=True):
            sender.send(line, event)


# Health, for the worker page


@dataclass(frozen=True)
class StreamHealth:
    label: str
    behind: int
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None

    @property
    def healthy(self) -> bool:
        return not self.last_error


def health() -> list[StreamHealth]:
    """Each configured destination: events not yet delivered, last success, last error."""
    cursors = {
        cursor.destination: cursor
        for cursor in AuditStreamCursor.objects.filter(
            destination__in=settings.CONSOLE_AUDIT_STREAM
        )
    }
    report = []
    for destination in configured():
        cursor = cursors.get(destination.spec) or AuditStreamCursor(destination=destination.spec)
        behind = AuditEvent.objects.filter(id__gt=cursor.last_event_id).count()
        report.append(
            StreamHealth(
                destination.label,
                behind,
                cursor.last_success_at,
                cursor.last_error,
                cursor.last_error_at,
            )
        )
    return report


@checks.register()
def check_audit_stream(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """E010: CONSOLE_AUDIT_STREAM names something that is not a destination."""
    return check_stream_destinations()
