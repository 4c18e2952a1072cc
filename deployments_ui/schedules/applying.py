"""Applying scheduled changes when they are due: the worker's side.

`apply_change` is the one path by which a scheduled change reaches Patchworks. It claims the
change with an atomic status transition (pending → applying, with the attempt's start: the
attempt marker, committed before any call), then makes the same state check and single write as a
click, with the requester's own key. `settle_interrupted` resolves attempts whose consumer died.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from deployments_ui import audit, services
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor
from deployments_ui.changes.services import ApprovalNeeded, EnvironmentRef, freeze_in_force
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import PatchworksError, Unauthorized
from deployments_ui.schedules.models import ScheduledChange
from deployments_ui.schedules.services import (
    FINISHED,
    TOGGLE_PERMISSION,
    exact_time,
    lateness_words,
    target_of,
)

logger = logging.getLogger(__name__)

Status = ScheduledChange.Status
# A change that ran this much after its time is reported as late (no worker was running).
LATE_AFTER = timedelta(seconds=60)


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
    if _waits_for_a_freeze(change_id, started):
        return None
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
    except ApprovalNeeded as requested:
        # Change control recorded a change request instead: it is applied once approved.
        return _finish(change, Status.SKIPPED, requested.message, lateness)
    except services.ActionRefused as refused:
        # Change control refused it (a freeze window, a rule asking for approval or for the
        # environment's name): recorded as a refusal by the gate, nothing was sent.
        return _finish(change, Status.FAILED, refused.message, lateness)
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


def _waits_for_a_freeze(change_id: int, now: datetime) -> bool:
    """A change due inside a freeze window of its environment stays pending until the window
    ends, and says so (in `result_message`, shown on the schedules page)."""
    change = ScheduledChange.objects.filter(pk=change_id, status=Status.PENDING).first()
    if change is None:
        return False
    environment = EnvironmentRef(
        id=change.environment_id, name=change.environment_name, type=change.environment_type
    )
    freeze = freeze_in_force(environment, now)
    if freeze is None:
        return False
    waiting = f"Waiting: {freeze.text}."
    if change.result_message != waiting:
        ScheduledChange.objects.filter(pk=change_id, status=Status.PENDING).update(
            result_message=waiting
        )
    return True


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
    assert started is not None  # settle_interrupted selects by attempt_started_at
    lateness = change.lateness_seconds
    if lateness is None:
        lateness = max(0.0, (started - change.due_at).total_seconds())
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
            target=target_of(change),
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
