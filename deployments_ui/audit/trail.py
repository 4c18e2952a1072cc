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

Every row is linked to the one before it by a hash chain (see `deployments_ui.audit.chain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from deployments_ui.audit.chain import (
    ACTOR_FIELDS,
    TARGET_FIELDS,
    append,
)
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core.http import client_ip
from deployments_ui.core.identity import DeploymentRef

if TYPE_CHECKING:
    from django.contrib.auth.models import User

RESULT_OUTCOMES = frozenset({"succeeded", "failed", "unknown"})


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
    # The name of the personal API token the person acts through (`sign_in_method` "token").
    token: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
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
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            request_id=getattr(request, "id", "") or "",
        )

    @classmethod
    def on_behalf_of(
        cls, user: User | None, *, method: str = "schedule", request_id: str = ""
    ) -> Actor:
        """The worker (or an approval) applying a change that `user` asked for earlier."""
        username = user.get_username() if user else ""
        name = (user.get_full_name().strip() if user else "") or username
        return cls(
            user=user, username=username, name=name, sign_in_method=method, request_id=request_id
        )

    @classmethod
    def system(cls, name: str = "the console's check for outside changes") -> Actor:
        """A background job acting on its own (no person, no request)."""
        return cls(name=name, sign_in_method="system")


def deployment_state(deployment: Any) -> dict[str, Any]:
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
    target: DeploymentRef,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    message: str = "",
) -> AuditEvent:
    """Write the `pending` row for a write that is about to be sent. Raises AuditUnavailable.

    `message` notes circumstances of the attempt, e.g. a scheduled change's lateness.
    """
    event = _new_event(actor, target, action=action, outcome=AuditEvent.Outcome.PENDING)
    event.before, event.after = before, _attributed(actor, after)
    event.reason, event.message = reason, message
    return append(event)


def record_outcome(
    attempt: AuditEvent,
    *,
    outcome: str,
    upstream_status: int | None = None,
    message: str = "",
    after: dict[str, Any] | None = None,
    target: DeploymentRef | None = None,
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
        **{name: getattr(attempt, name) for name in ACTOR_FIELDS + TARGET_FIELDS},
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

    return append(event, check=only_outcome)


def record_settlement(attempt: AuditEvent, *, made: bool, message: str) -> AuditEvent:
    """Write how an attempt whose outcome was unknown ended, found by reading afterwards: a
    second row completing it, after the "unknown" one (never instead of it)."""
    if attempt.outcome != AuditEvent.Outcome.PENDING or attempt.completes_id is not None:
        raise ValueError(f"Audit event {attempt.pk} is not an attempt")
    event = AuditEvent(
        **{name: getattr(attempt, name) for name in ACTOR_FIELDS + TARGET_FIELDS},
        source=attempt.source,
        action=attempt.action,
        outcome=AuditEvent.Outcome.SUCCEEDED if made else AuditEvent.Outcome.FAILED,
        completes_id=attempt.pk,
        before=attempt.before,
        after=attempt.after,
        reason=attempt.reason,
        message=message,
    )

    def only_unknown_so_far() -> None:
        known = AuditEvent.objects.filter(completes_id=attempt.pk).exclude(
            outcome=AuditEvent.Outcome.UNKNOWN
        )
        if known.exists():
            raise ValueError(f"Audit event {attempt.pk} already has a known outcome")

    return append(event, check=only_unknown_so_far)


def record_refusal(
    *,
    actor: Actor,
    action: str,
    target: DeploymentRef,
    message: str,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one row for a write the console declined to send (permission, conflict, ...)."""
    event = _new_event(actor, target, action=action, outcome=AuditEvent.Outcome.REFUSED)
    event.before, event.after = before, _attributed(actor, after)
    event.reason, event.message = reason, message
    return append(event)


def record_local(
    *,
    actor: Actor,
    action: str,
    target: DeploymentRef,
    message: str = "",
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one row for something done inside the console alone (no Patchworks call): asking
    for, moving or cancelling a scheduled change; a step of change control (a request, an
    approval, an override). Raises AuditUnavailable."""
    event = _new_event(actor, target, action=action, outcome=AuditEvent.Outcome.SUCCEEDED)
    event.before, event.after = before, _attributed(actor, after)
    event.reason, event.message = reason, message
    return append(event)


def record_external(
    *,
    action: str,
    target: DeploymentRef,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
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
    return append(event)


def record_account(
    *,
    actor: Actor,
    action: str,
    account: str,
    outcome: str = "succeeded",
    message: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one row about a person's account: sign-ins, lockouts, roles, keys, SSO identities.

    `account` is the username the event is about (it may differ from the actor, who may be
    nobody for a failed sign-in). Raises AuditUnavailable.
    """
    event = _new_event(actor, DeploymentRef(), action=action, outcome=outcome)
    event.before = before
    event.after = {"account": account, **(after or {})}
    event.message = message
    return append(event)


# --- appending --------------------------------------------------------------------------


def _new_event(actor: Actor, target: DeploymentRef, *, action: str, outcome: str) -> AuditEvent:
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


def _attributed(actor: Actor, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """A change made through a personal API token carries the token's name with it, whatever
    route recorded it (a write, a refusal, a request for approval, a schedule)."""
    if not actor.token:
        return after
    return {**(after or {}), "token": actor.token}


def _apply_target(event: AuditEvent, target: DeploymentRef) -> None:
    for name in TARGET_FIELDS:
        setattr(event, name, getattr(target, name))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
