"""The hash chain under the audit trail: appending one event at a time, and verifying it.

Each row stores `previous_hash` and `hash` = sha256(previous_hash + canonical JSON of its
content fields). Appending locks the single `AuditChainHead` row, so concurrent writers (threads,
gunicorn workers, servers) extend the chain one at a time and ids follow chain order;
`verify_chain` walks the rows in id order and names the first one that breaks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from deployments_ui.models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1
# SQLite locks the whole database, and in shared-cache mode a writer that loses the race is
# told "locked" at once instead of waiting: keep trying for a while, with jittered pauses.
SQLITE_LOCK_WAIT = 10.0

ACTOR_FIELDS = (
    "user_id",
    "actor_username",
    "actor_name",
    "sso_identity",
    "sign_in_method",
    "ip_address",
    "user_agent",
    "request_id",
)
TARGET_FIELDS = (
    "deployment_id",
    "flow_version_id",
    "flow_id",
    "flow_name",
    "environment_id",
    "environment_name",
    "environment_type",
)
HASHED_FIELDS = (
    "occurred_at",
    "source",
    "action",
    "outcome",
    "completes_id",
    *ACTOR_FIELDS,
    *TARGET_FIELDS,
    "before",
    "after",
    "reason",
    "upstream_status",
    "message",
)


# Called with each appended event inside its transaction, e.g. the notifications outbox, so
# that what it writes commits with the event or not at all. Registered from the app's `ready`.
_on_append: list[Callable[[AuditEvent], None]] = []


def on_append(callback: Callable[[AuditEvent], None]) -> None:
    """Run `callback(event)` for every event appended, inside the appending transaction."""
    if callback not in _on_append:
        _on_append.append(callback)


class AuditUnavailable(Exception):
    """The event could not be written, so the remote call must not be made."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""


def verify_chain() -> VerifyResult:
    """Walk the trail in order and report the first event whose hash or link is wrong."""
    # Read the head first: events appended while we walk are then simply beyond it.
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    previous: AuditEvent | None = None
    head_seen = head is None or head.last_event_id is None
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        checked += 1
        expected_previous = previous.hash if previous else GENESIS_HASH
        if event.previous_hash != expected_previous:
            before_it = f"event {previous.pk}" if previous else "the start of the trail"
            return VerifyResult(
                False,
                checked,
                event.pk,
                f"event {event.pk} does not follow {before_it}: an event between them was "
                f"removed, or {before_it} was rewritten",
            )
        if event_hash(event) != event.hash:
            return VerifyResult(
                False,
                checked,
                event.pk,
                f"event {event.pk} no longer matches its hash: it was changed after it was written",
            )
        if head is not None and event.pk == head.last_event_id:
            head_seen = event.hash == head.last_hash
        previous = event
    if not head_seen:
        return VerifyResult(
            False,
            checked,
            head.last_event_id,
            f"event {head.last_event_id}, the last one written, is missing or was changed: "
            "events at the end of the trail were removed",
        )
    if head is None and previous is not None:
        return VerifyResult(
            False, checked, previous.pk, "the chain head is missing: the trail was reset"
        )
    return VerifyResult(True, checked)


def event_hash(event: AuditEvent) -> str:
    """sha256 over the previous hash and a canonical JSON of the event's content."""
    content = {name: _hash_value(getattr(event, name)) for name in HASHED_FIELDS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{event.previous_hash}\n{canonical}".encode()).hexdigest()


def append(event: AuditEvent, check: Callable[[], None] | None = None) -> AuditEvent:
    """Link the event to the chain and save it; any database failure is AuditUnavailable.

    `check` runs while the chain is locked, before the event is saved, and may refuse it.
    """
    _normalise(event)
    deadline = time.monotonic() + (SQLITE_LOCK_WAIT if _may_retry() else 0)
    while True:
        try:
            return _append_once(event, check)
        except OperationalError as exc:
            if "locked" in str(exc) and time.monotonic() < deadline:
                time.sleep(random.uniform(0.002, 0.02))
                continue
            raise _unavailable(event, exc) from exc
        except DatabaseError as exc:
            raise _unavailable(event, exc) from exc


def _append_once(event: AuditEvent, check: Callable[[], None] | None) -> AuditEvent:
    event.pk = None
    with transaction.atomic():
        head = _lock_head()
        if check is not None:
            check()
        event.previous_hash = head.last_hash or GENESIS_HASH
        event.hash = event_hash(event)
        event.save(force_insert=True)
        for callback in _on_append:
            callback(event)
        AuditChainHead.objects.filter(pk=HEAD_ID).update(
            last_hash=event.hash, last_event_id=event.pk
        )
    return event


def _lock_head() -> AuditChainHead:
    # Writing first (a no-op update) takes SQLite's write lock before any read, and on
    # PostgreSQL locks the row like SELECT ... FOR UPDATE.
    if not AuditChainHead.objects.filter(pk=HEAD_ID).update(last_hash=F("last_hash")):
        AuditChainHead.objects.get_or_create(pk=HEAD_ID)
    return AuditChainHead.objects.select_for_update().get(pk=HEAD_ID)


def _may_retry() -> bool:
    # Retrying is only safe when the failed attempt did not poison an enclosing transaction.
    return connection.vendor == "sqlite" and not connection.in_atomic_block


def _unavailable(event: AuditEvent, exc: Exception) -> AuditUnavailable:
    event.pk = None
    logger.error("Could not write an audit event (%s %s): %s", event.action, event.outcome, exc)
    return AuditUnavailable("The audit trail could not be written, so nothing was sent.")


def _normalise(event: AuditEvent) -> None:
    """Store exactly what will be read back, so that the hash can be recomputed later."""
    event.occurred_at = (event.occurred_at or timezone.now()).astimezone(UTC)
    event.ip_address = _ip(event.ip_address)
    for field in AuditEvent._meta.get_fields():
        max_length = getattr(field, "max_length", None)
        value = getattr(event, field.attname, None) if hasattr(field, "attname") else None
        if isinstance(value, str):
            value = value.replace("\x00", "")
            setattr(event, field.attname, value[:max_length] if max_length else value)
    event.before = _jsonable(event.before)
    event.after = _jsonable(event.after)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    text = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True).replace("\\u0000", "")
    return json.loads(text)


def _hash_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None
