"""The audit trail: who did what to which deployment, when, why, and how it ended.

The services call `record_attempt` before each remote write and `record_outcome` after it,
`record_refusal` when the console declines to send a write, and drift detection calls
`record_external` for changes made outside the console. Rows are only ever appended.

Why two rows per write rather than one row completed later: the attempt must be on disk
before Patchworks is called, so that a crash in between still leaves a trace, and the table
refuses UPDATE on PostgreSQL. Writing the outcome as its own row (pointing at the attempt
through `completes`) keeps the table strictly append-only: no "allowed transition" exceptions
in the trigger, every row hashed once and never rehashed, and an attempt without a result row
reads plainly as "no outcome recorded".

Every row stores `previous_hash` and `hash` = sha256(previous_hash + canonical JSON of its
content). Appends lock the single `AuditChainHead` row, so concurrent writers extend the chain
one at a time; `verify_chain` walks the rows in id order and names the first one that breaks.
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

from deployments_ui.audit_entries import AuditEntry, deployment_history, describe
from deployments_ui.models import AuditChainHead, AuditEvent

__all__ = [
    "Actor",
    "AuditEntry",
    "AuditTarget",
    "AuditUnavailable",
    "VerifyResult",
    "deployment_history",
    "deployment_state",
    "describe",
    "record_attempt",
    "record_external",
    "record_outcome",
    "record_refusal",
    "verify_chain",
]

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1
RESULT_OUTCOMES = frozenset({"succeeded", "failed", "unknown"})
# SQLite locks the whole database, and in shared-cache mode a writer that loses the race is
# told "locked" at once instead of waiting: keep trying for a while, with jittered pauses.
SQLITE_LOCK_WAIT = 10.0

HASHED_FIELDS = (
    "occurred_at",
    "source",
    "action",
    "outcome",
    "completes_id",
    "user_id",
    "actor_username",
    "actor_name",
    "sso_identity",
    "sign_in_method",
    "ip_address",
    "user_agent",
    "request_id",
    "deployment_id",
    "flow_version_id",
    "flow_id",
    "flow_name",
    "environment_id",
    "environment_name",
    "environment_type",
    "before",
    "after",
    "reason",
    "upstream_status",
    "message",
)


class AuditUnavailable(Exception):
    """The event could not be written, so the remote call must not be made."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a console user with where they came from, or a background job."""

    user: Any = None
    username: str = ""
    name: str = ""
    sso_identity: str = ""
    sign_in_method: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def from_request(cls, request) -> Actor:
        """The signed-in person making this request, as the audit trail records them."""
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
        session = getattr(request, "session", None) or {}
        username = user.get_username() if user else ""
        return cls(
            user=user,
            username=username,
            name=(user.get_full_name().strip() if user else "") or username,
            sso_identity=session.get("sso_identity", "") or "",
            sign_in_method=session.get("sign_in_method", "") or "",
            ip_address=_request_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            request_id=getattr(request, "id", "") or "",
        )

    @classmethod
    def system(cls, name: str = "drift detection") -> Actor:
        """A background job acting on its own (no person, no request)."""
        return cls(name=name, sign_in_method="system")


@dataclass(frozen=True)
class AuditTarget:
    """The deployment an event is about, with the names it had at the time."""

    deployment_id: str = ""
    flow_version_id: str = ""
    flow_id: str = ""
    flow_name: str = ""
    environment_id: str = ""
    environment_name: str = ""
    environment_type: str = ""

    @classmethod
    def from_deployment(cls, deployment) -> AuditTarget:
        """Take ids and names from a client `Deployment`."""
        return cls(
            deployment_id=_text(getattr(deployment, "id", "")),
            flow_version_id=_text(getattr(deployment, "flow_version_id", "")),
            flow_id=_text(getattr(deployment, "flow_id", "")),
            flow_name=_text(getattr(deployment, "flow_name", "")),
            environment_id=_text(getattr(deployment, "virtual_environment_id", "")),
            environment_name=_text(getattr(deployment, "environment_name", "")),
            environment_type=_text(getattr(deployment, "environment_type", "")),
        )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""


def deployment_state(deployment) -> dict[str, Any]:
    """The values compared before and after a write and by drift detection (JSON-safe)."""
    enabled_at = getattr(deployment, "enabled_at", None)
    enabled_by = getattr(deployment, "enabled_by", None)
    is_enabled = getattr(deployment, "is_enabled", None)
    return {
        "deployment_id": _text(getattr(deployment, "id", "")),
        "enabled": bool(enabled_at) if is_enabled is None else bool(is_enabled),
        "enabled_at": _iso(enabled_at),
        "enabled_by": getattr(enabled_by, "name", None) or None,
        "priority": getattr(deployment, "priority", None),
        "virtual_environment_id": _text(getattr(deployment, "virtual_environment_id", "")) or None,
        "environment_name": getattr(deployment, "environment_name", None) or None,
        "environment_type": getattr(deployment, "environment_type", None) or None,
        "flow_version_id": _text(getattr(deployment, "flow_version_id", "")) or None,
        "flow_version_iteration": getattr(deployment, "flow_version_iteration", None),
    }


def record_attempt(
    *,
    actor: Actor,
    action: str,
    target: AuditTarget,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEvent:
    """Write the `pending` row for a write that is about to be sent. Raises AuditUnavailable."""
    event = _new_event(actor, target, action=action, outcome=AuditEvent.Outcome.PENDING)
    event.before, event.after, event.reason = before, after, reason
    return _append(event)


def record_outcome(
    attempt: AuditEvent,
    *,
    outcome: str,
    upstream_status: int | None = None,
    message: str = "",
    after: dict | None = None,
    target: AuditTarget | None = None,
) -> AuditEvent:
    """Write how an attempt ended (succeeded, failed or unknown) as a row completing it.

    `target` (optional) names what the write produced, e.g. the new deployment's id after a
    create; otherwise the attempt's target is repeated, with the deployment id taken from
    `after` when the attempt had none.
    """
    if outcome not in RESULT_OUTCOMES:
        raise ValueError(f"An outcome is one of {sorted(RESULT_OUTCOMES)}, not {outcome!r}")
    if attempt.outcome != AuditEvent.Outcome.PENDING or attempt.completes_id is not None:
        raise ValueError(f"Audit event {attempt.pk} is not an attempt")
    event = AuditEvent(
        **{name: getattr(attempt, name) for name in _ACTOR_FIELDS + _TARGET_FIELDS},
        source=attempt.source,
        action=attempt.action,
        outcome=outcome,
        completes_id=attempt.pk,
        before=attempt.before,
        after=attempt.after if after is None else after,
        reason=attempt.reason,
        upstream_status=upstream_status,
        message=message,
    )
    if target is not None:
        _apply_target(event, target)
    if not event.deployment_id and isinstance(event.after, dict):
        event.deployment_id = _text(event.after.get("deployment_id", ""))

    def only_outcome() -> None:
        if AuditEvent.objects.filter(completes_id=attempt.pk).exists():
            raise ValueError(f"Audit event {attempt.pk} already has an outcome")

    return _append(event, check=only_outcome)


def record_refusal(
    *,
    actor: Actor,
    action: str,
    target: AuditTarget,
    message: str,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Write one row for a write the console declined to send (permission, conflict, ...)."""
    event = _new_event(actor, target, action=action, outcome=AuditEvent.Outcome.REFUSED)
    event.before, event.after, event.reason, event.message = before, after, reason, message
    return _append(event)


def record_external(
    *,
    action: str,
    target: AuditTarget,
    before: dict | None,
    after: dict | None,
    actor_name: str,
    occurred_at: datetime | None = None,
    message: str = "",
) -> AuditEvent:
    """Write one row for a change made in Patchworks, not through the console.

    `actor_name` is Patchworks' enabledBy name when it says who acted, else "" (unknown).
    """
    event = _new_event(Actor(name=actor_name), target, action=action, outcome="succeeded")
    event.source = AuditEvent.Source.PATCHWORKS
    event.before, event.after, event.message = before, after, message
    if occurred_at is not None:
        event.occurred_at = occurred_at
    return _append(event)


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


# --- appending --------------------------------------------------------------------------

_ACTOR_FIELDS = (
    "user_id",
    "actor_username",
    "actor_name",
    "sso_identity",
    "sign_in_method",
    "ip_address",
    "user_agent",
    "request_id",
)
_TARGET_FIELDS = (
    "deployment_id",
    "flow_version_id",
    "flow_id",
    "flow_name",
    "environment_id",
    "environment_name",
    "environment_type",
)


def _new_event(actor: Actor, target: AuditTarget, *, action: str, outcome: str) -> AuditEvent:
    user = actor.user if getattr(actor.user, "pk", None) else None
    event = AuditEvent(
        source=AuditEvent.Source.CONSOLE,
        action=action,
        outcome=outcome,
        user_id=user.pk if user else None,
        actor_username=actor.username,
        actor_name=actor.name,
        sso_identity=actor.sso_identity,
        sign_in_method=actor.sign_in_method,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
    )
    _apply_target(event, target)
    return event


def _apply_target(event: AuditEvent, target: AuditTarget) -> None:
    for name in _TARGET_FIELDS:
        setattr(event, name, getattr(target, name))


def _append(event: AuditEvent, check: Callable[[], None] | None = None) -> AuditEvent:
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


def _request_ip(request) -> str | None:
    try:
        from deployments_ui.sso import client_ip
    except ImportError:
        return request.META.get("REMOTE_ADDR") or None
    return client_ip(request)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
