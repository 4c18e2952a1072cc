"""Applying an approved change request: through the one write path, if still as expected.

An approved request is sent only while the deployment is as the request expected (else it is
stale and closed), with the requester's key, under change control's gate for freezes.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.access import BREAK_GLASS_PERMISSION, still_may_act
from deployments_ui.accounts.same_person import same_person
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import actor_display
from deployments_ui.changes import requests
from deployments_ui.changes.gate import (
    ChangeFrozen,
    Controls,
    RequestRefused,
    RequestStale,
    record_control,
)
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.requests import close, load
from deployments_ui.core.errors import ActionRefused
from deployments_ui.deployments import reads, writes
from deployments_ui.patchworks import NotFound, PatchworksError

Action = AuditEvent.Action
Status = ChangeRequest.Status

# What must be unchanged at apply time for a request to still mean what its approvers saw.
STALE_KEYS = {
    "enabled": "whether it is enabled",
    "enabled_at": "when it was enabled",
    "priority": "its priority",
    "virtual_environment_id": "its environment",
}


def approve(*, actor: Actor, user, request_id: int, revision: int | None = None):
    """Approve a request (the revision the approver saw); once it has enough approvals, apply it
    at once when it asked for that and is not due later.

    Returns (request, applied) where `applied` is the write's result when it applied itself.
    """
    request = requests.approve(actor=actor, user=user, request_id=request_id, revision=revision)
    due_later = request.due_at is not None and request.due_at > timezone.now()
    if request.status != Status.APPROVED or not request.apply_when_approved or due_later:
        return request, None
    if request.bulk_job_id is not None:
        return request, None  # the bulk job's worker sends its items
    # The approval applies it: the approver acts, with the key of the person who asked.
    return request, apply(actor=actor, user=request.requested_by, request_id=request.pk)


def apply(
    *,
    actor: Actor,
    user,
    request_id: int,
    break_glass_reason: str = "",
    freeze_override: str = "",
    due: bool = False,
):
    """Send an approved request's change, if the deployment is still as it expected.

    An Admin may apply an open request without approval, giving `break_glass_reason`. `due`:
    the worker applies a scheduled request at its time. The person who asked and every
    approver must still be active and allowed. Raises RequestRefused (or RequestStale,
    ChangeFrozen, a PatchworksError); returns what the write returned.
    """
    request = load(request_id)
    break_glass = " ".join(break_glass_reason.split())[:500]
    _check_may_apply(actor, user, request, break_glass, due)
    current = None
    if request.action != "create":
        current = _still_as_expected(actor, user, request)
    if break_glass:
        request.break_glass_reason = break_glass
        request.save(update_fields=["break_glass_reason"])
        record_control(actor, Action.BREAK_GLASS, request.ref, request=request, reason=break_glass)
    controls = Controls(change_request=request, freeze_override=freeze_override)
    try:
        result = _send(actor, user, request, current, controls)
    except ChangeFrozen:
        raise
    except (PatchworksError, ActionRefused) as error:
        close(request, Status.FAILED, user, error.message)
        raise
    close(request, Status.APPLIED, user, "Applied.")
    return result


def _check_may_apply(actor, user, request: ChangeRequest, break_glass: str, due: bool) -> None:
    if break_glass:
        if not user.has_perm(BREAK_GLASS_PERMISSION):
            raise RequestRefused("Only an Admin can apply a change without approval.")
        if not request.is_open:
            raise RequestRefused(f"This request is already {request.get_status_display()}.")
        return
    if request.status != Status.APPROVED:
        raise RequestRefused(
            f"This request cannot be applied: it is {request.get_status_display()}."
        )
    if not due and request.due_at is not None and request.due_at > timezone.now():
        raise RequestRefused("This request is scheduled: it is applied at its time.")
    approver = request.approvals().filter(user=user).exists()
    if request.requested_by_id != user.pk and not approver:
        raise RequestRefused("Only the person who asked, or an approver, can apply it.")
    approvers = [d.user for d in request.approvals().select_related("user")]
    for person in [request.requested_by, *approvers]:
        problem = still_may_act(person, request.action, _name(person), request.ref)
        if person in approvers and same_person(person, request.requested_by):
            problem = f"{_name(person)} approved it but is the person who asked (another account)."
        if problem:
            audit.record_refusal(
                actor=actor,
                action=request.action,
                target=request.ref,
                message=f"{problem} Nothing was sent.",
                reason=request.reason,
            )
            close(request, Status.FAILED, None, f"{problem} Nothing was sent.")
            raise RequestRefused(f"{problem} The request was closed and nothing was sent.")


def _name(user) -> str:
    return (user.get_full_name().strip() or user.get_username()) if user else "Someone"


def context_of(request: ChangeRequest) -> dict[str, Any]:
    """What an applied request adds to its write's audit record: who asked, who approved, and
    the event it undoes (an undo that needed approval)."""
    approvers = [_name(d.user) for d in request.approvals().select_related("user")]
    context = {
        "change_request": request.pk,
        "requested_by": _name(request.requested_by),
        "requested_by_id": request.requested_by_id,
        "approved_by": approvers,
        "break_glass": request.break_glass_reason or None,
    }
    proposed = request.proposed if isinstance(request.proposed, dict) else {}
    if proposed.get("undoes"):
        context["undoes"] = proposed["undoes"]
    return context


def _send(actor, user, request: ChangeRequest, current, controls: Controls):
    proposed, reason, context = request.proposed, request.reason, context_of(request)
    if request.action in ("enable", "disable"):
        return writes.set_enabled(
            actor=actor,
            user=user,
            ref=request.ref,
            enabled=request.action == "enable",
            reason=reason,
            controls=controls,
            current=current,
            context=context,
        )
    if request.action == "delete":
        return writes.delete(
            actor=actor,
            user=user,
            ref=request.ref,
            reason=reason,
            controls=controls,
            context=context,
        )
    if request.action == "update":
        return writes.update(
            actor=actor,
            user=user,
            current=current,
            changes=dict(proposed.get("changes", {})),
            opened_values=writes.editable_values(current),
            reason=reason,
            controls=controls,
            context=context,
        )
    return writes.create(
        actor=actor,
        user=user,
        flow_version_id=request.flow_version_id,
        virtual_environment_id=proposed.get("virtual_environment_id"),
        priority=proposed.get("priority"),
        deploy_disabled=bool(proposed.get("deploy_disabled")),
        flow_name=request.flow_name,
        reason=reason,
        controls=controls,
        context=context,
    )


def _still_as_expected(actor, user, request: ChangeRequest):
    """Read the deployment now; refuse (recorded) when it is no longer as the request expected."""
    try:
        current = reads.deployment_get(
            user=user,
            flow_version_id=request.flow_version_id,
            deployment_id=request.deployment_id,
            for_change=True,
        )
    except NotFound:
        _stale(actor, request, "the deployment no longer exists", None)
    now = audit.deployment_state(current)
    expected = request.expected or {}
    changed = [label for key, label in STALE_KEYS.items() if expected.get(key) != now.get(key)]
    if changed:
        _stale(actor, request, "changed: " + _and(changed), current)
    return current


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _stale(actor, request: ChangeRequest, what: str, current) -> None:
    who = _who_changed(request, current)
    message = (
        f"Not applied: {who} changed it since the request was made ({what}). Nothing was sent."
    )
    audit.record_refusal(
        actor=actor,
        action=request.action,
        target=request.ref,
        message=message,
        reason=request.reason,
        before=request.expected,
        after=audit.deployment_state(current) if current else None,
    )
    close(request, Status.STALE, None, message)
    raise RequestStale(message, current)


def _who_changed(request: ChangeRequest, current) -> str:
    writes = [Action.ENABLE, Action.DISABLE, Action.UPDATE, Action.DELETE, Action.CREATE]
    event = (
        AuditEvent.objects.filter(
            deployment_id=request.deployment_id,
            occurred_at__gte=request.requested_at,
            outcome=AuditEvent.Outcome.SUCCEEDED,
            action__in=writes,
        )
        .order_by("-occurred_at", "-id")
        .first()
    )
    if event is not None:
        return actor_display(event)
    enabled_by = getattr(current, "enabled_by", None)
    if enabled_by is not None and getattr(current, "is_enabled", False):
        return enabled_by.name
    return "someone"
