"""Applying scheduled changes when they are due: the worker's side.

`apply_change` claims a due change with an atomic status transition (pending → applying) and
sends it through the one write path with the requester's own key, the name they typed when
asking, and the approved change request it waited for; the write path stores its attempt's id
on the change. `settle_interrupted` resolves changes whose consumer died, by reading.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from deployments_ui import audit
from deployments_ui.accounts.access import still_may_act
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor
from deployments_ui.changes import requests
from deployments_ui.changes.gate import Controls
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.rules import freeze_in_force
from deployments_ui.core import leases
from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.words import later, recorded
from deployments_ui.deployments import applying, reads, settling, writes
from deployments_ui.deployments.settling import interrupted_after
from deployments_ui.patchworks import PatchworksError
from deployments_ui.schedules.models import ScheduledChange
from deployments_ui.schedules.services import FINISHED, exact_time
from deployments_ui.schedules.words import APPLIED, LATE_BECAUSE, lateness_words

logger = logging.getLogger(__name__)

Status = ScheduledChange.Status
RequestStatus = ChangeRequest.Status
STATUS_FOR = {
    writes.DONE: Status.APPLIED,
    writes.SKIPPED: Status.SKIPPED,
    writes.WAITING: Status.SKIPPED,
    writes.FAILED: Status.FAILED,
    writes.UNKNOWN: Status.FAILED,
}
# A change that ran this much after its time is reported as late, with why when it is known.
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

    The claim (pending → applying) is committed before anything is read or sent, and the write
    path stores its attempt's id on the change inside the attempt's transaction: a consumer
    killed during the call leaves a marker that `settle_interrupted` resolves by reading the
    deployment, never by writing again.
    """
    started = timezone.now()
    if _waits_for_a_freeze(change_id, started):
        return None
    claimed = ScheduledChange.objects.filter(
        pk=change_id, status=Status.PENDING, due_at__lte=started
    ).update(status=Status.APPLYING, attempt_started_at=started, attempt_holder=holder[:100])
    if not claimed:
        return None
    change = ScheduledChange.objects.select_related("requested_by", "change_request").get(
        pk=change_id
    )
    refusal = still_may_act(
        change.requested_by, change.action, change.requested_by_name, change.ref
    )
    if refusal:
        _record_refused_apply(change, refusal)
        return _finish(change, Status.FAILED, refusal)
    request = change.change_request
    if request is not None and request.status != _ready_status(change, request):
        return _unapproved(change, request)
    try:
        _send(change, request)
    except Exception as error:  # the change must not stay "applying" for ever
        if not isinstance(error, (ConsoleError, PatchworksError, MissingApiKey)):
            logger.exception("Scheduled change %s failed unexpectedly", change.pk)
        outcome = writes.outcome_of(error)
        words = _words(change, outcome)
        if isinstance(error, MissingApiKey):
            words = f"{change.requested_by_name}: {words}"
        return _finish(change, STATUS_FOR[outcome.kind], words)
    return _finish(change, Status.APPLIED, recorded(later(lambda: _applied(change))))


def _send(change: ScheduledChange, request: ChangeRequest | None) -> None:
    """The one write, as the person who asked, with what they confirmed when asking."""
    user = change.requested_by
    actor = Actor.on_behalf_of(user)
    note = recorded(
        later(
            lambda: (
                f"scheduled for {exact_time(change.due_at, change.time_zone)}, "
                f"applied {_lateness(change)}"
            )
        )
    )

    def claim(attempt) -> bool:
        return bool(
            ScheduledChange.objects.filter(pk=change.pk, status=Status.APPLYING).update(
                attempt_event_id=attempt.pk
            )
        )

    if request is not None and request.action == change.action:
        applying.apply(actor=actor, user=user, request_id=request.pk, due=True)
        return
    writes.set_enabled(
        actor=actor,
        user=user,
        ref=change.ref,
        enabled=change.action == ScheduledChange.Action.ENABLE,
        reason=change.reason,
        note=note,
        controls=Controls(confirmed_elsewhere=change.name_confirmed, change_request=request),
        on_attempt=claim,
        context={"schedule_id": change.pk},
    )


def _ready_status(change: ScheduledChange, request: ChangeRequest) -> str:
    """The request's status that lets this change go: approved for the change it asked for,
    applied for the re-enable that follows an "off until" disable."""
    return RequestStatus.APPROVED if request.action == change.action else RequestStatus.APPLIED


def _unapproved(change: ScheduledChange, request: ChangeRequest) -> ScheduledChange:
    """Still waiting for approval at its time: missed (and people told); a request that was
    declined, withdrawn or expired takes its scheduled changes with it."""
    if request.status == RequestStatus.OPEN:
        message = (
            f"Missed: change request {request.pk} was still waiting for approval at its time, "
            "so nothing was sent."
        )
        requests.miss(request, message)
        return _finish(change, Status.MISSED, message)
    message = f"Not applied: change request {request.pk} was {request.get_status_display()}."
    return _finish(change, Status.CANCELLED, message)


def _words(change: ScheduledChange, outcome: writes.Outcome) -> str:
    if outcome.kind == writes.SKIPPED:
        return f"Skipped: {outcome.message[0].lower()}{outcome.message[1:]}"
    if outcome.kind == writes.UNKNOWN:
        return (
            f"{outcome.message} The change may or may not have been made: the console reads "
            "the deployment within a minute and records what happened."
        )
    return outcome.message


def _lateness(change: ScheduledChange) -> str:
    """'4 s late'; past LATE_AFTER, why, as it was: the worker that applied it started after its
    time, or was already running (busy with other work)."""
    seconds = max(0.0, (timezone.now() - change.due_at).total_seconds())
    started = leases.consumer_started()
    if seconds <= LATE_AFTER.total_seconds() or started is None:
        return lateness_words(seconds)
    if started > change.due_at:
        return f"{lateness_words(seconds)} {gettext(LATE_BECAUSE[0])}"
    return f"{lateness_words(seconds)} {gettext(LATE_BECAUSE[1])}"


def _applied(change: ScheduledChange) -> str:
    late = _lateness(change)
    return gettext(APPLIED[change.action]) % {"late": late}


def _waits_for_a_freeze(change_id: int, now: datetime) -> bool:
    """A change due inside a freeze window of its environment stays pending until the window
    ends, and says so (in `result_message`, shown on the schedules page)."""
    change = ScheduledChange.objects.filter(pk=change_id, status=Status.PENDING).first()
    if change is None:
        return False
    freeze = freeze_in_force(change.ref.environment, now)
    if freeze is None:
        return False
    waiting = f"Waiting: {freeze.text}."
    if change.result_message != waiting:
        ScheduledChange.objects.filter(pk=change_id, status=Status.PENDING).update(
            result_message=waiting
        )
    return True


def settle_interrupted(*, holder: str = "", now: datetime | None = None) -> int:
    """Resolve changes whose consumer stopped while applying them.

    After long enough that the call must have ended, read the deployment with the requester's
    key: in the wanted state, the write went through (applied, recorded on its attempt);
    otherwise it was not made, and the change is tried again while still within
    CONSOLE_SCHEDULE_RETRY_MINUTES of its time (reading first, as always), else it failed.
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
        if taken and _settle(change, now):
            settled += 1
    return settled


def _settle(change: ScheduledChange, now: datetime) -> bool:
    if still_may_act(change.requested_by, change.action, change.requested_by_name):
        message = (
            "The worker stopped while applying this change, and its outcome cannot be checked "
            "without the requester's key. Nothing was sent again: check the deployment."
        )
        _finish(change, Status.FAILED, message)
        return True
    try:
        current = reads.deployment_get(
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
    if current.is_enabled == wanted:
        message = (
            f"Applied: the worker stopped before recording Patchworks' answer; the deployment "
            f"was found {state}, so nothing was sent again."
        )
        settling.settle(change.attempt_event_id, current, message=message)
        _finish(change, Status.APPLIED, message)
        return True
    settling.settle(change.attempt_event_id, current)
    if now - change.due_at < timedelta(minutes=settings.CONSOLE_SCHEDULE_RETRY_MINUTES):
        ScheduledChange.objects.filter(pk=change.pk, status=Status.APPLYING).update(
            status=Status.PENDING,
            attempt_event_id=None,
            result_message="The worker stopped before applying it: it is tried again.",
        )
        return True
    message = (
        f"The worker stopped while applying this change and the deployment is still {state}, "
        "so it was not made. Nothing was sent again: schedule it again or change it by hand."
    )
    _finish(change, Status.FAILED, message)
    return True


def _record_refused_apply(change: ScheduledChange, message: str) -> None:
    try:
        audit.record_refusal(
            actor=Actor.on_behalf_of(change.requested_by)
            if change.requested_by
            else Actor(name=change.requested_by_name, sign_in_method="schedule"),
            action=change.action,
            target=change.ref,
            message=message,
            reason=change.reason,
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record the refused scheduled change %s", change.pk)


def _finish(change: ScheduledChange, status: str, message: str) -> ScheduledChange:
    now = timezone.now()
    ScheduledChange.objects.filter(pk=change.pk, status=Status.APPLYING).update(
        status=status,
        result_message=recorded(message),
        applied_at=now,
        lateness_seconds=max(0.0, (now - change.due_at).total_seconds()),
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
