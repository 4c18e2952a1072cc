"""The hash chain under the audit trail: appending one event at a time, and verifying it.

Each row stores `previous_hash` and `hash` = HMAC-SHA256 under the audit key of
(previous_hash + canonical JSON of its content fields). The key (`CONSOLE_AUDIT_KEY` or
`CONSOLE_AUDIT_KEY_FILE`) is never in the database, so someone who can edit the database
cannot recompute the hashes after rewriting an event. Without it (local development, or a
production that forgot it: `check --deploy` says so) the key is derived from SECRET_KEY.

Upgrade: trails written before the chain was keyed used plain sha256. `AuditChainHead`
records `keyed_from_id`, the first event hashed with the key; events before it are checked
with sha256, events from it on with the key. Moving or clearing that marker breaks the keyed
events' check, so it cannot be used to pass a rewritten trail off as an old one.

Appending locks the single `AuditChainHead` row, so concurrent writers (threads, gunicorn
workers, servers) extend the chain one at a time and ids follow chain order; each append
writes the new head (event id and hash) to the log, and to the head row with the key's
fingerprint (which key wrote it, not the key) and a seal (an HMAC under the key over the head).

`verify_chain` first compares the key it has with the recorded fingerprint (another key is said
to be so, never reported as tampering), then walks the rows in id order from the genesis or the
last pruning's checkpoint and names every event that breaks. Once anything shows the chain was
keyed (the head's fingerprint, a signed checkpoint), an event claiming to predate the key is
refused. Given a checkpoint from the log (an event id and its hash) and the number of events
expected at least, or else the last head verify_audit proved (a signed record) and what the
audit stream delivered, it also notices a trail emptied, cut short or rewritten whole.
See docs/operations.md.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from deployments_ui.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
)
from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.words import recorded

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


class AuditUnavailable(ConsoleError):
    """The event could not be written, so the remote call must not be made."""

    default_message = (
        "The console could not record this action in the audit log, so it was not sent."
    )
    http_status = 503


MISSING_AUDIT_KEY = (
    "CONSOLE_AUDIT_KEY is not set, so the audit trail's hash chain is keyed with a key derived "
    "from DJANGO_SECRET_KEY (changing that key would then break verify_audit). Set "
    "CONSOLE_AUDIT_KEY (or CONSOLE_AUDIT_KEY_FILE) to a long random value kept outside the "
    'database, e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"'
)


@dataclass(frozen=True)
class Checkpoint:
    """An event id and its hash, as written to the log when the event was appended."""

    event_id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        event_id, _, digest = text.strip().partition(":")
        if not event_id.isdigit() or len(digest) != 64:
            raise ValueError("A checkpoint is EVENT_ID:HASH, as the log and verify_audit print it")
        return cls(int(event_id), digest.lower())


@functools.lru_cache(maxsize=4)
@sensitive_variables()
def _key_for(configured: str, secret_key: str) -> bytes:
    if configured:
        return configured.encode()
    return salted_hmac(
        "deployments_ui.audit.chain.derived-audit-key",
        "audit-chain",
        secret=secret_key,
        algorithm="sha256",
    ).digest()


@sensitive_variables()
def _audit_key() -> bytes:
    return _key_for(settings.CONSOLE_AUDIT_KEY, settings.SECRET_KEY)


# A fixed label: its HMAC under the key names the key without revealing it.
FINGERPRINT_LABEL = b"deployments-console audit key fingerprint v1"


def key_fingerprint() -> str:
    """Sixteen hex digits naming the audit key in use (not the key, nor enough to find it)."""
    return hmac.new(_audit_key(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def sign(*parts: object) -> str:
    """HMAC-SHA256 under the audit key over the parts, one a line."""
    message = "\n".join(str(part) for part in parts).encode()
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


def seal_of(head: AuditChainHead) -> str:
    return sign(
        "head", head.last_event_id, head.last_hash, head.keyed_from_id, head.key_fingerprint
    )


def _checkpoint_parts(row: AuditCheckpoint) -> tuple[object, ...]:
    return (
        "checkpoint",
        row.kind,
        row.event_id,
        row.hash,
        int(row.keyed),
        row.events,
        row.key_fingerprint,
    )


def signature_matches(row: AuditCheckpoint) -> bool:
    return hmac.compare_digest(row.signature, sign(*_checkpoint_parts(row)))


def record_checkpoint(
    kind: str, point: Checkpoint, *, keyed: bool, events: int, using: str = "default"
) -> AuditCheckpoint:
    """Keep a signed record of `point` (a verified head, or where pruning cut the trail)."""
    row = AuditCheckpoint(
        kind=kind,
        event_id=point.event_id,
        hash=point.hash,
        keyed=keyed,
        events=events,
        key_fingerprint=key_fingerprint(),
    )
    row.signature = sign(*_checkpoint_parts(row))
    row.save(using=using)
    return row


def is_keyed(event_id: int) -> bool:
    """Whether the chain hashed this event with the key (or, before keying, plain sha256)."""
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    return head is not None and head.keyed_from_id is not None and event_id >= head.keyed_from_id


@checks.register(checks.Tags.security, deploy=True)
def check_audit_key(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """W001 (check --deploy): the audit chain's key is not set."""
    if settings.CONSOLE_AUDIT_KEY:
        return []
    return [checks.Warning(MISSING_AUDIT_KEY, id="deployments_ui.W001")]


def event_hash(event: AuditEvent, *, keyed: bool = True) -> str:
    """HMAC-SHA256 under the audit key (or, for events from before keying, plain sha256) over
    the previous hash and a canonical JSON of the event's content."""
    return content_hash(event.previous_hash, hashed_content(event), keyed=keyed)


def hashed_content(event: AuditEvent) -> dict[str, Any]:
    """The event's fields the hash covers, as JSON values."""
    return {name: _hash_value(getattr(event, name)) for name in HASHED_FIELDS}


def content_hash(previous_hash: str, content: dict[str, Any], *, keyed: bool = True) -> str:
    """The hash of an event given its previous hash and hashed content (e.g. from an export)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    message = f"{previous_hash}\n{canonical}".encode()
    if not keyed:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


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
        head.last_hash, head.last_event_id = event.hash, event.pk
        if head.keyed_from_id is None:
            head.keyed_from_id = event.pk
        head.key_fingerprint = key_fingerprint()
        head.seal = seal_of(head)
        _write_head(head)
    # The log keeps the head outside the database: any line is a checkpoint for verify_audit.
    logger.info("Audit chain head: %s:%s", event.pk, event.hash)
    return event


def _lock_head() -> AuditChainHead:
    # PostgreSQL locks the row; SQLite's transactions begin IMMEDIATE (console/settings.py),
    # holding its write lock already, or else a no-op update takes it before any read.
    if connection.vendor == "sqlite" and not _begins_immediate():
        AuditChainHead.objects.filter(pk=HEAD_ID).update(last_hash=F("last_hash"))
    head = _read_head()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=HEAD_ID)
        head = _read_head()
    assert head is not None
    return head


# Every append reads and writes the head: one plain statement each, not a query built by the
# ORM each time (a change records two appends on its way to the person's answer).
HEAD_COLUMNS = ("last_hash", "last_event_id", "keyed_from_id", "key_fingerprint", "seal")


def _read_head() -> AuditChainHead | None:
    table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in HEAD_COLUMNS)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE id = %s{lock}", [HEAD_ID])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return None
    return AuditChainHead(id=HEAD_ID, **dict(zip(HEAD_COLUMNS, row, strict=True)))


def _write_head(head: AuditChainHead) -> None:
    table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    columns = ", ".join(f"{connection.ops.quote_name(column)} = %s" for column in HEAD_COLUMNS)
    values = [getattr(head, column) for column in HEAD_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {columns} WHERE id = %s", [*values, HEAD_ID])  # noqa: S608


def _begins_immediate() -> bool:
    options = connection.settings_dict.get("OPTIONS") or {}
    return bool(options.get("transaction_mode") == "IMMEDIATE")


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
        attname: str | None = getattr(field, "attname", None)
        value = recorded(getattr(event, attname, None)) if attname else None
        if attname and isinstance(value, str):
            value = value.replace("\x00", "")
            setattr(event, attname, value[:max_length] if max_length else value)
    event.before = _jsonable(_recorded(event.before))
    event.after = _jsonable(_recorded(event.after))


def _recorded(value: Any) -> Any:
    """Words kept in recorded values, said in the console's own language."""
    if isinstance(value, dict):
        return {key: _recorded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_recorded(item) for item in value]
    return recorded(value)


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
