"""Change requests: approving, declining, editing, withdrawing, expiring, and the lists.

Applying an approved request is a write, so it lives with the write path
(`deployments.applying`); everything here happens in the console alone, one audit event a step.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.same_person import accounts_of, approval_pause, same_person
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.gate import RequestRefused, may_decide, record_control
from deployments_ui.changes.models import ChangeDecision, ChangeRequest
from deployments_ui.changes.summaries import stored_summary, summary
from deployments_ui.core.words import recorded
from deployments_ui.notifications import events, outbox

Action = AuditEvent.Action
Status = ChangeRequest.Status


def expire_due(now: datetime | None = None) -> int:
    """Close open requests past their time, one audit event each. Returns how many."""
    now = now or timezone.now()
    due = ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN_STATUSES, expires_at__lte=now)
    count = 0
    for request in due:
        with transaction.atomic():
            updated = ChangeRequest.objects.filter(
                pk=request.pk, status__in=ChangeRequest.OPEN_STATUSES
            ).update(status=Status.EXPIRED, closed_at=now)
            if updated:
                record_control(
                    Actor.system("change control"),
                    Action.EXPIRE,
                    request.ref,
                    request=request,
                    message=f"Not applied within {settings.CONSOLE_CHANGE_REQUEST_DAYS} days.",
                )
                count += 1
    return count


def load(request_id: int) -> ChangeRequest:
    expire_due()
    try:
        return ChangeRequest.objects.select_related("requested_by").get(pk=request_id)
    except ChangeRequest.DoesNotExist as missing:
        raise RequestRefused("This change request does not exist.") from missing


def _refuse(actor, request: ChangeRequest, action: str, message: str, reason: str = ""):
    record_control(actor, action, request.ref, request=request, reason=reason, message=message)
    raise RequestRefused(message)


def approve(*, actor: Actor, user, request_id: int, revision: int | None = None) -> ChangeRequest:
    """Approve the revision of a request the approver saw (`revision`; an edit since voids it).

    Once it has enough approvals it may be applied: `deployments.applying.approve` applies it
    when it asked for that.
    """
    request = load(request_id)
    if revision is not None and revision != request.revision:
        raise RequestRefused(
            "This request was edited after you opened it, so your approval would not be for "
            "what you saw. Nothing was approved: read it again, then decide."
        )
    if request.status != Status.OPEN:
        raise RequestRefused(
            f"This request is not waiting for approval: it is {request.get_status_display()}."
        )
    if request.requested_by_id == user.pk or same_person(request.requested_by, user):
        audit.record_refusal(
            actor=actor,
            action=Action.APPROVE,
            target=request.ref,
            message="The person who asked for a change cannot approve it, under any account.",
        )
        raise RequestRefused(
            "You asked for this change (under this account or another of yours), so another "
            "person must approve it."
        )
    if pause := approval_pause(user):
        audit.record_refusal(actor=actor, action=Action.APPROVE, target=request.ref, message=pause)
        raise RequestRefused(pause)
    approvals = request.approvals().select_related("user")
    if any(d.user_id != user.pk and same_person(d.user, user) for d in approvals):
        raise RequestRefused("You have already approved this request under another account.")
    if not may_decide(user, request):
        raise RequestRefused(
            "Your role does not allow this kind of change, so you cannot approve it."
        )
    with transaction.atomic():
        if request.current_decisions().filter(user=user).exists():
            raise RequestRefused("You have already decided on this request.")
        try:
            with transaction.atomic():
                ChangeDecision.objects.create(
                    request=request, user=user, approved=True, revision=request.revision
                )
        except IntegrityError as twice:
            raise RequestRefused("You have already decided on this request.") from twice
        approvals = request.approvals().count()
        if approvals >= request.approvals_required:
            request.status = Status.APPROVED
            request.save(update_fields=["status"])
        record_control(
            actor,
            Action.APPROVE,
            request.ref,
            request=request,
            message=f"{approvals} of {request.approvals_required} approvals.",
        )
    return request


def decline(*, actor: Actor, user, request_id: int, reason: str) -> ChangeRequest:
    """Decline a request, with a reason; it is closed and nothing is sent."""
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise RequestRefused("Please say why you decline this request.")
    request = load(request_id)
    if not request.is_open:
        raise RequestRefused(f"This request is already {request.get_status_display()}.")
    if request.requested_by_id == user.pk:
        raise RequestRefused("You asked for this change, so another person must decide on it.")
    if not may_decide(user, request):
        raise RequestRefused(
            "Your role does not allow this kind of change, so you cannot decline it."
        )
    with transaction.atomic():
        ChangeDecision.objects.create(
            request=request, user=user, approved=False, reason=reason, revision=request.revision
        )
        request.status, request.closed_at = Status.DECLINED, timezone.now()
        request.save(update_fields=["status", "closed_at"])
        record_control(actor, Action.DECLINE, request.ref, request=request, reason=reason)
    return request


def withdraw(*, actor: Actor, user, request_id: int) -> ChangeRequest:
    """The person who asked takes their request back (audited); its scheduled changes go too."""
    request = load(request_id)
    if request.requested_by_id != user.pk:
        raise RequestRefused("Only the person who asked for the change can withdraw it.")
    if not request.is_open:
        raise RequestRefused(f"This request is already {request.get_status_display()}.")
    with transaction.atomic():
        close(
            request, Status.WITHDRAWN, None, f"Withdrawn by {actor.name or 'the person who asked'}."
        )
        record_control(actor, Action.WITHDRAW, request.ref, request=request)
    return request


def miss(request: ChangeRequest, message: str) -> None:
    """A scheduled request still waiting for approval at its time: closed as missed, recorded,
    and the person who asked is told (subscribers hear of it through the trail)."""
    with transaction.atomic():
        updated = ChangeRequest.objects.filter(pk=request.pk, status=Status.OPEN).update(
            status=Status.MISSED, closed_at=timezone.now(), outcome_message=message[:2000]
        )
        if not updated:
            return
        missed = record_control(
            Actor.system("change control"),
            Action.MISS,
            request.ref,
            request=request,
            message=message,
        )
        outbox.notify(missed, kind=events.KIND_MY_REQUEST, audience=[request.requested_by])


def edit(
    *,
    actor: Actor,
    user,
    request_id: int,
    reason: str,
    apply_when_approved: bool,
    priority: int | str | None = "unchanged",
) -> ChangeRequest:
    """The requester changes their request; every approval given so far is reset."""
    request = load(request_id)
    if request.requested_by_id != user.pk:
        raise RequestRefused("Only the person who asked for the change can edit the request.")
    if not request.is_open:
        raise RequestRefused(f"This request is already {request.get_status_display()}.")
    with transaction.atomic():
        request.reason = " ".join(reason.split())[:500]
        request.apply_when_approved = apply_when_approved
        if priority != "unchanged" and request.action in ("create", "update"):
            _set_priority(request, priority)
        request.revision += 1
        request.status = Status.OPEN
        request.edited_at = timezone.now()
        request.save()
        record_control(
            actor,
            Action.REQUEST_EDIT,
            request.ref,
            request=request,
            reason=request.reason,
            message="Approvals given before the edit were reset.",
        )
    return request


def _set_priority(request: ChangeRequest, priority) -> None:
    if request.action == "update":
        changes = dict(request.proposed.get("changes", {}))
        changes["priority"] = priority
        request.proposed = {**request.proposed, "changes": changes}
    else:
        request.proposed = {**request.proposed, "priority": priority}
    request.after = {**(request.after or {}), "priority": priority}
    request.summary = stored_summary(
        lambda: summary(request.action, request.ref, request.expected, request.after)
    )


def close(request: ChangeRequest, status: str, user, message: str) -> None:
    request.status = status
    request.closed_at = timezone.now()
    request.outcome_message = recorded(message)[:2000]
    if user is not None:
        request.applied_by = user
    request.save(update_fields=["status", "closed_at", "outcome_message", "applied_by"])


# Lists


def open_requests():
    expire_due()
    return ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN_STATUSES).select_related(
        "requested_by"
    )


def waiting_for(user) -> list[ChangeRequest]:
    """Open requests this person may approve and has not decided on yet."""
    waiting = []
    mine = accounts_of(user)
    for request in open_requests().filter(status=Status.OPEN).exclude(requested_by__in=mine):
        if may_decide(user, request) and not request.current_decisions().filter(user=user):
            waiting.append(request)
    return waiting


def recent_requests(limit: int = 20):
    return ChangeRequest.objects.exclude(status__in=ChangeRequest.OPEN_STATUSES).select_related(
        "requested_by"
    )[:limit]
