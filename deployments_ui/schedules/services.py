"""Scheduled enables and disables: asking, moving, cancelling, and applying them when due.

Asking, moving and cancelling happen in the console alone (one audit event each). Applying is
`apply_change`, the one path by which a scheduled change reaches Patchworks: it claims the change
with an atomic status transition (the attempt marker, committed before any call), then makes the
same state check and single write as a click, with the requester's own key.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from deployments_ui import audit, services
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import Deployment, PatchworksError, Unauthorized
from deployments_ui.schedules.models import ScheduledChange

logger = logging.getLogger(__name__)

Status = ScheduledChange.Status
FINISHED = (Status.APPLIED, Status.SKIPPED, Status.FAILED, Status.CANCELLED)
# A change that ran this much after its time is reported as late (no worker was running).
LATE_AFTER = timedelta(seconds=60)
TOGGLE_PERMISSION = "deployments_ui.toggle_deployments"
ANYONES_PERMISSION = "deployments_ui.change_deployments"


class ScheduleRefused(Exception):
    """The console declined to schedule, move or cancel; the reason is in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Time zones and wording


def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone called `name`, or None if there is no such zone."""
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


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
    return local.strftime("%-d %b %H:%M")


def lateness_words(seconds: float) -> str:
    if seconds < 1:
        return "on time"
    if seconds < 120:
        return f"{seconds:.0f} s late"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min late"
    return f"{seconds / 3600:.1f} h late"


def badge_text(change: ScheduledChange, now: datetime | None = None) -> str:
    """'Enables at 18:00 (asked by Ana)'; an off-until disable names its end too."""
    verb = "Enables" if change.action == ScheduledChange.Action.ENABLE else "Disables"
    text = f"{verb} at {short_time(change.due_at, now)}"
    if change.until:
        text += f" until {short_time(change.until, now)}"
    return f"{text} (asked by {change.requested_by_name})"


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


def may_manage(user: AbstractBaseUser, change: ScheduledChange) -> bool:
    """Operators may move or cancel their own pending changes, Editors anyone's."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(ANYONES_PERMISSION):
        return True
    return change.requested_by_id == user.pk and user.has_perm(TOGGLE_PERMISSION)


# Asking, moving, cancelling


@dataclass(frozen=True)
class Asked:
    """What asking produced: the changes now waiting, and the deployment if it changed now."""

    changes: list[ScheduledChange]
    changed_now: Deployment | None = None


def schedule_change(
    *,
    actor: Actor,
    user: AbstractBaseUser,
    deployment: Deployment,
    action: str,
    at: datetime | None,
    until: datetime | None = None,
    reason: str = "",
    time_zone: str = "",
) -> Asked:
    """Ask for an enable or disable at `at`; a disable may end at `until` ("off until").

    `at` None means now: only for "off until", which disables at once (the same path as a
    click, so AlreadyInState and upstream errors propagate) and schedules the re-enable.
    `deployment` is the deployment as read from Patchworks in this same request.
    """
    now = timezone.now()
    enable = action == ScheduledChange.Action.ENABLE
    if action not in ScheduledChange.Action.values:
        raise ScheduleRefused("Choose whether to enable or disable it.")
    if at is None and (enable or until is None):
        raise ScheduleRefused("Choose when the change should happen.")
    if at is not None and at <= now:
        raise ScheduleRefused("That time has already passed. Choose a time in the future.")
    if until is not None:
        if enable:
            raise ScheduleRefused("Only a disable can have an end time.")
        if until <= (at or now):
            raise ScheduleRefused("The end time must come after the disable.")
    changed_now = None
    if at is None:
        changed_now = services.deployment_set_enabled(
            actor=actor,
            user=user,
            flow_version_id=deployment.flow_version_id,
            deployment_id=deployment.id,
            enabled=False,
            reason=reason,
        )
    base = _fields_from(deployment, user, actor, reason, time_zone)
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
    return Asked(changes=made, changed_now=changed_now)


def move_change(
    *, actor: Actor, user: AbstractBaseUser, change: ScheduledChange, due_at: datetime
) -> ScheduledChange:
    """Move a pending change to a new time."""
    _check_may_manage(user, change)
    if due_at <= timezone.now():
        raise ScheduleRefused("That time has already passed. Choose a time in the future.")
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


def cancel_change(
    *, actor: Actor, user: AbstractBaseUser, change: ScheduledChange
) -> list[ScheduledChange]:
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
            "Only the person who asked for this change, or an Editor, can move or cancel it."
        )
    if not change.is_pending:
        raise ScheduleRefused(_no_longer_pending(change))


def _no_longer_pending(change: ScheduledChange) -> str:
    change.refresh_from_db()
    return f"This change is no longer waiting: it was {change.get_status_display()}."


def _fields_from(deployment: Deployment, user, actor: Actor, reason: str, time_zone: str) -> dict:
    state = audit.deployment_state(deployment)
    return {
        "deployment_id": str(deployment.id),
        "flow_version_id": str(deployment.flow_version_id),
        "flow_name": deployment.flow_name or "",
        "flow_version_iteration": deployment.flow_version_iteration,
        "environment_id": str(deployment.virtual_environment_id or ""),
        "environment_name": deployment.environment_name or "",
        "environment_type": deployment.environment_type or "",
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


def _target(change: ScheduledChange) -> AuditTarget:
    return AuditTarget(
        deployment_id=change.deployment_id,
        flow_version_id=change.flow_version_id,
        flow_name=change.flow_name,
        environment_id=change.environment_id,
        environment_name=change.environment_name,
        environment_type=change.environment_type,
    )


def _record(actor: Actor, change: ScheduledChange, action: str, message: str, reason: str):
    audit.record_local(
        actor=actor,
        action=action,
        target=_target(change),
        message=message,
        reason=reason,
        after={
            "schedule_id": change.pk,
            "action": change.action,
            "due_at": change.due_at.isoformat(),
            "until": change.until.isoformat() if change.until else None,
        },
    )


# Applying


def apply_due(*, holder: str = "", now: datetime | None = None, limit: int = 200) -> int:
    """Settle interrupted attempts, then apply every pending change that is due; returns how
    many this call applied (or skipped, or failed). Safe to run in several consumers at once."""
    now = now or timezone.now()
    settle_interrupted(holder=holder, now=now)
    due = list(
        ScheduledChange.objects.filter(status=Status.PENDING, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if apply_change(pk, holder=holder) is not None)


def apply_change(change_id: int, *, holder: str = "") -> ScheduledChange | None:
    """Apply one due change, once: None if it was not pending and due (another consumer took it).

    The claim (pending → applying, with the attempt's start) is committed before Patchworks is
    called, so a consumer killed during the call leaves a marker that `settle_interrupted`
    resolves by reading the deployment, never by writing again.
    """
    started = timezone.now()
    claimed = ScheduledChange.objects.filter(
        pk=change_id, status=Status.PENDING, due_at__lte=started
    ).update(status=Status.APPLYING, attempt_started_at=started, attempt_holder=holder[:100])
    if not claimed:
        return None
    change = ScheduledChange.objects.select_related("requested_by").get(pk=change_id)
    lateness = max(0.0, (started - change.due_at).total_seconds())
    user = change.requested_by
    refusal = _requester_problem(change)
    if refusal:
        _record_refused_apply(change, refusal)
        return _finish(change, Status.FAILED, refusal, lateness)
    late = " (no worker was running at its time)" if lateness > LATE_AFTER.total_seconds() else ""
    note = (
        f"scheduled for {exact_time(change.due_at, change.time_zone)}, "
        f"applied {lateness_words(lateness)}{late}"
    )
    try:
        services.deployment_set_enabled(
            actor=Actor.on_behalf_of(user),
            user=user,
            flow_version_id=change.flow_version_id,
            deployment_id=change.deployment_id,
            enabled=change.action == ScheduledChange.Action.ENABLE,
            reason=change.reason,
            note=note,
        )
    except services.AlreadyInState as already:
        return _finish(change, Status.SKIPPED, _skipped_words(already), lateness)
    except MissingApiKey as missing:
        return _finish(change, Status.FAILED, f"{change.requested_by_name}: {missing}", lateness)
    except Unauthorized:
        message = f"Patchworks refused {change.requested_by_name}'s API key."
        return _finish(change, Status.FAILED, message, lateness)
    except PatchworksError as error:
        message = error.message
        if error.outcome_unknown:
            message += " The change may or may not have been made: check the deployment."
        return _finish(change, Status.FAILED, message, lateness)
    except audit.AuditUnavailable:
        message = "The audit trail could not be written, so nothing was sent."
        return _finish(change, Status.FAILED, message, lateness)
    except Exception as error:  # the change must not stay "applying" for ever
        logger.exception("Scheduled change %s failed unexpectedly", change.pk)
        return _finish(change, Status.FAILED, f"Unexpected error: {type(error).__name__}", lateness)
    verb = "enabled" if change.action == ScheduledChange.Action.ENABLE else "disabled"
    return _finish(
        change, Status.APPLIED, f"{verb.capitalize()} {lateness_words(lateness)}{late}.", lateness
    )


def settle_interrupted(*, holder: str = "", now: datetime | None = None) -> int:
    """Resolve attempts whose consumer stopped before recording an outcome.

    After long enough that the call must have ended (both calls' timeouts and a margin), read
    the deployment with the requester's key: in the wanted state, the write went through
    (applied); otherwise it did not, and nothing is sent again (failed, saying so).
    """
    now = now or timezone.now()
    stale_before = now - interrupted_after()
    settled = 0
    for change in ScheduledChange.objects.filter(
        status=Status.APPLYING, attempt_started_at__lt=stale_before
    ).select_related("requested_by"):
        taken = ScheduledChange.objects.filter(
            pk=change.pk, status=Status.APPLYING, attempt_started_at=change.attempt_started_at
        ).update(attempt_started_at=now, attempt_holder=holder[:100])
        if not taken:
            continue
        if _settle(change):
            settled += 1
    return settled


def interrupted_after() -> timedelta:
    one_call = settings.PATCHWORKS_CONNECT_TIMEOUT + settings.PATCHWORKS_READ_TIMEOUT
    return timedelta(seconds=2 * one_call + 10)


def _settle(change: ScheduledChange) -> bool:
    """`change` as loaded before it was taken for settling (its first attempt's start)."""
    started = change.attempt_started_at
    lateness = change.lateness_seconds
    if lateness is None:
        lateness = max(0.0, (change.attempt_started_at - change.due_at).total_seconds())
    if _requester_problem(change):
        message = (
            "The worker stopped while applying this change, and its outcome cannot be checked "
            "without the requester's key. Nothing was sent again: check the deployment."
        )
        _finish(change, Status.FAILED, message, lateness)
        return True
    try:
        current = services.deployment_get(
            user=change.requested_by,
            flow_version_id=change.flow_version_id,
            deployment_id=change.deployment_id,
        )
    except (PatchworksError, MissingApiKey):
        logger.warning(
            "Could not read deployment %s to settle change %s", change.deployment_id, change.pk
        )
        return False
    wanted = change.action == ScheduledChange.Action.ENABLE
    state = "enabled" if current.is_enabled else "disabled"
    made = current.is_enabled == wanted
    if made:
        message = (
            f"Applied: the worker stopped before recording Patchworks' answer; the deployment "
            f"was found {state}, so nothing was sent again."
        )
    else:
        message = (
            f"The worker stopped while applying this change and the deployment is still {state}, "
            "so it was not made. Nothing was sent again: schedule it again or change it by hand."
        )
    _complete_orphan_attempt(change, started, made=made, message=message)
    _finish(change, Status.APPLIED if made else Status.FAILED, message, lateness)
    return True


def _record_refused_apply(change: ScheduledChange, message: str) -> None:
    try:
        audit.record_refusal(
            actor=Actor.on_behalf_of(change.requested_by)
            if change.requested_by
            else Actor(name=change.requested_by_name, sign_in_method="schedule"),
            action=change.action,
            target=_target(change),
            message=message,
            reason=change.reason,
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record the refused scheduled change %s", change.pk)


def _complete_orphan_attempt(change: ScheduledChange, started, *, made: bool, message: str):
    """Give the interrupted attempt's audit event the outcome found by reading afterwards."""
    attempt = (
        AuditEvent.objects.filter(
            sign_in_method="schedule",
            action=change.action,
            deployment_id=change.deployment_id,
            outcome=AuditEvent.Outcome.PENDING,
            completes__isnull=True,
            results__isnull=True,
            occurred_at__gte=started,
        )
        .order_by("id")
        .first()
    )
    if attempt is None:
        return
    try:
        audit.record_outcome(
            attempt,
            outcome=AuditEvent.Outcome.SUCCEEDED if made else AuditEvent.Outcome.FAILED,
            message=message,
        )
    except (audit.AuditUnavailable, ValueError):
        logger.exception("Could not complete audit event %s", attempt.pk)


def _requester_problem(change: ScheduledChange) -> str:
    user = change.requested_by
    if user is None or not user.is_active:
        return f"{change.requested_by_name} no longer has a console account."
    if not user.has_perm(TOGGLE_PERMISSION):
        return f"{change.requested_by_name} may no longer enable or disable deployments."
    return ""


def _skipped_words(already: services.AlreadyInState) -> str:
    current = already.deployment
    if current is not None and current.is_enabled:
        who = current.enabled_by.name if current.enabled_by else "someone"
        return f"Skipped: already enabled by {who}."
    return "Skipped: already disabled."


def _finish(change: ScheduledChange, status: str, message: str, lateness: float) -> ScheduledChange:
    now = timezone.now()
    ScheduledChange.objects.filter(pk=change.pk, status=Status.APPLYING).update(
        status=status,
        result_message=message,
        applied_at=now,
        lateness_seconds=lateness,
        finished_by_name="the schedule",
    )
    change.refresh_from_db()
    return change


# Housekeeping


def delete_finished(*, older_than_days: int | None = None) -> int:
    """Delete finished changes (applied, skipped, failed, cancelled) older than the kept days."""
    days = settings.CONSOLE_SCHEDULE_KEEP_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ScheduledChange.objects.filter(status__in=FINISHED, due_at__lt=cutoff).delete()
    return deleted
