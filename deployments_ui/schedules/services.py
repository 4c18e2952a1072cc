"""Scheduled enables and disables: asking, moving and cancelling, and how they are worded.

These happen in the console alone (one audit event each); `schedules.applying` makes the changes
when they are due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from deployments_ui import audit
from deployments_ui.accounts import access
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.gate import ApprovalNeeded, Change, Controls, gate
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.errors import ActionRefused
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.core.vocabulary import zone_named
from deployments_ui.core.words import later, said
from deployments_ui.deployments import writes
from deployments_ui.patchworks import Deployment
from deployments_ui.schedules.models import ScheduledChange

logger = logging.getLogger(__name__)

Status = ScheduledChange.Status
FINISHED = (Status.APPLIED, Status.SKIPPED, Status.FAILED, Status.CANCELLED)


class ScheduleRefused(ActionRefused):
    """The console declined to schedule, move or cancel; the reason is in plain words."""

    http_status = 400


class ScheduleNotYours(ScheduleRefused):
    """The person may not make this change where the deployment is (their scope)."""

    http_status = 403


# Time zones and wording


def exact_time(value: datetime, zone_name: str = "") -> str:
    """'30 Nov 2026, 18:00 GMT' in the given zone (else the active one)."""
    zone = zone_named(zone_name) or timezone.get_current_timezone()
    return timezone.localtime(value, zone).strftime("%-d %b %Y, %H:%M %Z")


def short_time(value: datetime, now: datetime | None = None) -> str:
    """'18:00' today, else '1 Dec 18:00', in the active time zone."""
    local = timezone.localtime(value)
    today = timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return date_format(local, pgettext("a short day and time (date format)", "j M H:i"))


def badge_text(change: ScheduledChange, now: datetime | None = None) -> str:
    """'Enables at 18:00 (asked by Ana)'; an off-until disable names its end too."""
    words = {"change": change_words(change, now), "name": change.requested_by_name}
    return gettext("%(change)s (asked by %(name)s)") % words


def change_words(change: ScheduledChange, now: datetime | None = None) -> str:
    """'Enables at 18:00', 'Disables at 1 Dec 18:00 until 2 Dec 08:00' (the reader's words)."""
    words = {"at": short_time(change.due_at, now)}
    enables = change.action == ScheduledChange.Action.ENABLE
    if not change.until:
        text = gettext("Enables at %(at)s") if enables else gettext("Disables at %(at)s")
        return text % words
    words["until"] = short_time(change.until, now)
    text = (
        gettext("Enables at %(at)s until %(until)s")
        if enables
        else gettext("Disables at %(at)s until %(until)s")
    )
    return text % words


def badges_for(deployment_ids: list[str]) -> dict[str, list[dict]]:
    """Pending changes' badges per deployment id, soonest first: one query for a whole page.

    Each is {"id", "text", "requested_by_id"}, so that a page can offer to move or cancel it.
    """
    if not deployment_ids:
        return {}
    badges: dict[str, list[dict]] = {}
    now = timezone.now()
    pending = ScheduledChange.objects.filter(
        status=Status.PENDING, deployment_id__in=[str(pk) for pk in deployment_ids]
    ).order_by("due_at", "id")
    for change in pending:
        badges.setdefault(change.deployment_id, []).append(
            {
                "id": change.pk,
                "text": badge_text(change, now),
                "requested_by_id": change.requested_by_id,
            }
        )
    return badges


def pending_for(deployment_id: str) -> QuerySet[ScheduledChange]:
    return ScheduledChange.objects.filter(
        status=Status.PENDING, deployment_id=str(deployment_id)
    ).order_by("due_at", "id")


def may_manage(user: User | AnonymousUser, change: ScheduledChange) -> bool:
    """Operators may move or cancel their own pending changes, Editors anyone's."""
    return access.may_manage(user, change.requested_by_id, change.ref)


# Asking, moving, cancelling


@dataclass(frozen=True)
class Asked:
    """What asking produced: the changes now waiting, and the deployment if it changed now."""

    changes: list[ScheduledChange]
    changed_now: Deployment | None = None
    change_request: ChangeRequest | None = None


def schedule_change(
    *,
    actor: Actor,
    user: User,
    deployment: Deployment,
    action: str,
    at: datetime | None,
    until: datetime | None = None,
    reason: str = "",
    time_zone: str = "",
    controls: Controls | None = None,
) -> Asked:
    """Ask for an enable or disable at `at`; a disable may end at `until` ("off until").

    Everything change control can check is checked now, as for a click: the reason, the typed
    environment name (kept with the schedule), and whether approval is needed (a request is
    made at once, showing the due time; the worker applies it at its time once approved).
    `at` None means now: only for "off until", which disables at once through the one write
    path (an environment that needs approval makes one request covering the disable and the
    re-enable). `deployment` is the deployment as read from Patchworks in this same request.
    """
    _check_times(action, at, until)
    _check_may_act(actor, user, deployment, action, reason)
    controls = controls or Controls()
    changed_now, request = None, None
    if at is None:
        try:
            changed_now = writes.set_enabled(
                actor=actor,
                user=user,
                ref=DeploymentRef.of(deployment),
                enabled=False,
                reason=reason,
                controls=replace(controls, until=until),
                current=deployment,
            )
        except ApprovalNeeded as asked:
            request = asked.change_request
    else:
        request = _ask(actor, user, deployment, action, at, until, reason, controls)
    base = _fields_from(deployment, user, actor, reason, time_zone)
    base.update(name_confirmed=True, change_request=request)
    made = []
    with transaction.atomic():
        first = None
        if at is not None:
            first = ScheduledChange.objects.create(**base, action=action, due_at=at, until=until)
            made.append(first)
        if until is not None:
            made.append(
                ScheduledChange.objects.create(
                    **base, action=ScheduledChange.Action.ENABLE, due_at=until, undoes=first
                )
            )
        for change in made:
            _record(actor, change, AuditEvent.Action.SCHEDULE, _asked_words(change), reason)
    return Asked(changes=made, changed_now=changed_now, change_request=request)


def _check_may_act(actor, user, deployment: Deployment, action: str, reason: str) -> None:
    """The person must hold this kind of change where the deployment is (their scope)."""
    name = actor.name or user.get_username()
    problem = access.still_may_act(user, action, name, deployment)
    if problem:
        audit.record_refusal(
            actor=actor,
            action=AuditEvent.Action.SCHEDULE,
            target=DeploymentRef.of(deployment),
            message=problem,
            reason=reason,
        )
        raise ScheduleNotYours(problem)


def _check_times(action: str, at: datetime | None, until: datetime | None) -> None:
    now = timezone.now()
    enable = action == ScheduledChange.Action.ENABLE
    if action not in ScheduledChange.Action.values:
        raise ScheduleRefused(said("Choose whether to enable or disable it."))
    if at is None and (enable or until is None):
        raise ScheduleRefused(said("Choose when the change should happen."))
    if at is not None and at <= now:
        raise ScheduleRefused(said("That time has already passed. Choose a time in the future."))
    if until is not None:
        if enable:
            raise ScheduleRefused(said("Only a disable can have an end time."))
        if until <= (at or now):
            raise ScheduleRefused(said("The end time must come after the disable."))


def _ask(actor, user, deployment: Deployment, action, at, until, reason, controls: Controls):
    """Change control's gate for a change due later: the request it needs, or None."""
    before = audit.deployment_state(deployment)
    after = {**before, "enabled": action == ScheduledChange.Action.ENABLE}
    change = Change(
        action,
        DeploymentRef.of(deployment),
        (EnvironmentRef.of(deployment),),
        before,
        after,
        {},
        reason,
    )
    try:
        gate(
            actor=actor,
            user=user,
            change=change,
            controls=replace(controls, due_at=at, until=until, apply_when_approved=True),
        )
    except ApprovalNeeded as asked:
        return asked.change_request
    return None


def move_change(
    *, actor: Actor, user: User, change: ScheduledChange, due_at: datetime
) -> ScheduledChange:
    """Move a pending change to a new time."""
    _check_may_manage(user, change)
    if due_at <= timezone.now():
        raise ScheduleRefused(said("That time has already passed. Choose a time in the future."))
    if change.until and due_at >= change.until:
        raise ScheduleRefused(
            f"The disable must come before its re-enable at {exact_time(change.until)}. "
            "Move the re-enable first."
        )
    undoes = change.undoes
    if undoes is not None and undoes.is_pending and due_at <= undoes.due_at:
        raise ScheduleRefused(
            f"The re-enable must come after its disable at {exact_time(undoes.due_at)}."
        )
    was = change.due_at
    with transaction.atomic():
        if not ScheduledChange.objects.filter(pk=change.pk, status=Status.PENDING).update(
            due_at=due_at
        ):
            raise ScheduleRefused(_no_longer_pending(change))
        if undoes is not None and undoes.is_pending:
            ScheduledChange.objects.filter(pk=undoes.pk).update(until=due_at)
        change.due_at = due_at
        message = f"{change.action} moved from {exact_time(was)} to {exact_time(due_at)}"
        _record(actor, change, AuditEvent.Action.RESCHEDULE, message, "")
    return change


def cancel_change(*, actor: Actor, user: User, change: ScheduledChange) -> list[ScheduledChange]:
    """Cancel a pending change (and the pending re-enable of an "off until" disable)."""
    _check_may_manage(user, change)
    cancelled = []
    with transaction.atomic():
        followers = list(change.undone_by.filter(status=Status.PENDING))
        for item in [change, *followers]:
            done = ScheduledChange.objects.filter(pk=item.pk, status=Status.PENDING).update(
                status=Status.CANCELLED,
                finished_by_name=actor.name,
                result_message=f"Cancelled by {actor.name}.",
                applied_at=timezone.now(),
            )
            if not done:
                if item is change:
                    raise ScheduleRefused(_no_longer_pending(change))
                continue
            item.refresh_from_db()
            message = f"{item.action} that was due at {exact_time(item.due_at)} cancelled"
            _record(actor, item, AuditEvent.Action.UNSCHEDULE, message, "")
            cancelled.append(item)
    return cancelled


def _check_may_manage(user, change: ScheduledChange) -> None:
    if not may_manage(user, change):
        raise ScheduleRefused(
            said("Only the person who asked for this change, or an Editor, can move or cancel it.")
        )
    if not change.is_pending:
        raise ScheduleRefused(_no_longer_pending(change))


def _no_longer_pending(change: ScheduledChange) -> str:
    change.refresh_from_db()
    status = change.get_status_display()
    return later(
        lambda: gettext("This change is no longer waiting: it was %(status)s.") % {"status": status}
    )


def _fields_from(deployment: Deployment, user, actor: Actor, reason: str, time_zone: str) -> dict:
    state = audit.deployment_state(deployment)
    return {
        **DeploymentRef.of(deployment).identity(),
        "reason": reason,
        "requested_by": user,
        "requested_by_name": actor.name or user.get_username(),
        "time_zone": time_zone if zone_named(time_zone) else settings.TIME_ZONE,
        "state_when_asked": {"enabled": state["enabled"], "enabled_by": state["enabled_by"]},
    }


def _asked_words(change: ScheduledChange) -> str:
    words = f"{change.action} at {exact_time(change.due_at, change.time_zone)}"
    if change.until:
        words += f", until {exact_time(change.until, change.time_zone)}"
    return words


def _record(actor: Actor, change: ScheduledChange, action: str, message: str, reason: str):
    audit.record_local(
        actor=actor,
        action=action,
        target=change.ref,
        message=message,
        reason=reason,
        after={
            "schedule_id": change.pk,
            "action": change.action,
            "due_at": change.due_at.isoformat(),
            "until": change.until.isoformat() if change.until else None,
        },
    )
