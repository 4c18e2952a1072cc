"""The worker's run of a bulk job: item by item, within the upstream budget, never twice.

Each item goes through the one write path (`deployments.writes.set_enabled`) with what the job
read 100 at a time, and claims itself inside its attempt's transaction: its audit attempt and its
"sending" mark are committed together, then the one write goes out. A worker stopped in between
leaves the mark; the next run (`resume_stalled`) settles such an item by reading the deployment,
by its attempt's id, never by writing it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.access import still_may_act
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor
from deployments_ui.bulk import pausing
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.gate import Controls, NameNotConfirmed
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.requests import close
from deployments_ui.changes.rules import names_match, needs_approval
from deployments_ui.core import database
from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.words import recorded
from deployments_ui.deployments import reads, settling, writes
from deployments_ui.deployments.settling import interrupted_after
from deployments_ui.patchworks import Deployment, PatchworksError, budget

logger = logging.getLogger(__name__)

ItemStatus = BulkItem.Status
JobStatus = BulkJob.Status
ITEM_STATUS = {
    writes.DONE: ItemStatus.DONE,
    writes.SKIPPED: ItemStatus.SKIPPED,
    writes.WAITING: ItemStatus.SKIPPED,
    writes.FAILED: ItemStatus.FAILED,
    writes.UNKNOWN: ItemStatus.UNKNOWN,
}
# A job whose database stops answering asks again this often, for this long, then carries on
# from where it was; past that, `resume_stalled` takes it up once the database is back.
DATABASE_STEP = 2.0
DATABASE_PATIENCE = 15 * 60.0
# How often the worker looks for jobs whose worker stopped (see tasks.resume_bulk_jobs).
RESUME_EVERY = timedelta(seconds=10)
# A running job whose worker has not reported for this long is shown as paused.
QUIET_AFTER = timedelta(seconds=15)
NAME_NOT_TYPED = (
    "Its environment asks for its name to be typed before any change, and the name was not "
    "typed in the preview. Nothing was sent."
)


def run_job(job_id: int, *, holder: str = "") -> BulkJob | None:
    """Run a queued job (or take up one whose worker stopped); None if another worker has it.

    All its requests are background work in the upstream budget.
    """
    now = timezone.now()
    claimed = BulkJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, holder=holder[:100]
    )
    if not claimed:
        stale = now - interrupted_after()
        claimed = BulkJob.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=stale
        ).update(heartbeat_at=now, holder=holder[:100])
    if not claimed:
        return None
    job = BulkJob.objects.select_related("requested_by").get(pk=job_id)
    with budget.background(on_wait=lambda: _beat(job)):
        if not _run_through_outages(job):
            return None
    return _finish_job(job)


def _run_through_outages(job: BulkJob) -> bool:
    """Run the job; when the database stops answering, wait for it and carry on from where the
    job was (an item caught mid-write is settled by reading). False if the job was left: the
    database did not come back in time, or another worker took the job meanwhile."""
    while True:
        try:
            _run(job)
            return True
        except Exception as error:
            if not database.unreachable(error):
                logger.exception("Bulk job %s stopped unexpectedly", job.pk)
                _fail_rest(job, "The job stopped unexpectedly; this item was not sent.")
                return True
        logger.warning("Bulk job %s paused: the database is not answering", job.pk)
        if not database.wait_for_database(seconds=DATABASE_PATIENCE, step=DATABASE_STEP):
            return False
        if not _reclaim(job):
            return False
        logger.warning("Bulk job %s carries on: the database answers again", job.pk)


def _reclaim(job: BulkJob) -> bool:
    """Take the job back after an outage, unless another worker took it up meanwhile (its
    heartbeat moved on)."""
    now = timezone.now()
    claimed = BulkJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(heartbeat_at=now)
    job.heartbeat_at = now
    return bool(claimed)


def _run(job: BulkJob) -> None:
    actor = job_actor(job)
    problem = still_may_act(job.requested_by, job.action, job.requested_by_name)
    if problem:
        _refuse_rest(job, actor, problem)
        return
    backoff = pausing.Backoff(beat=lambda: _beat(job))
    while True:
        chunk = list(
            job.items.filter(status__in=(ItemStatus.PENDING, ItemStatus.SENDING))[: reads.PER_PAGE]
        )
        if not chunk or _cancelled(job):
            return
        try:
            found = reads.read_states(
                user=job.requested_by,
                deployment_ids=[item.deployment_id for item in chunk],
                filters=_narrowing(chunk),
            )
        except MissingApiKey as missing:
            _refuse_rest(job, actor, f"{job.requested_by_name}: {missing}")
            return
        except PatchworksError as error:
            if not (pausing.is_busy(error) and backoff.wait(error)):
                _fail_items(chunk, f"Could not read the deployments first: {error.message}")
            continue
        try:
            for item in chunk:
                if _cancelled(job):
                    return
                apply_item(job, item, found.get(item.deployment_id), actor=actor)
                backoff.done()
                _beat(job)
        except PatchworksBusy as busy:
            if not backoff.wait(busy.error):
                _finish_item(
                    busy.item,
                    ItemStatus.FAILED,
                    busy.error.message,
                    upstream_status=busy.error.status,
                )


class PatchworksBusy(Exception):
    """An item's write met a 429 or a 503: Patchworks did not act. The item is waiting again;
    the job pauses, then reads the deployments afresh and tries it again."""

    def __init__(self, item: BulkItem, error: PatchworksError) -> None:
        super().__init__(error.message)
        self.item, self.error = item, error


@dataclass(frozen=True)
class Pause:
    """A running job whose worker has not reported since `since`: it carries on by `resumes_by`
    at the latest (its own worker when the database or Patchworks answers again, or another
    one taking it up)."""

    since: datetime
    resumes_by: datetime


def pause_of(job: BulkJob, now: datetime | None = None) -> Pause | None:
    """The job's pause, when its worker has gone quiet; None while it reports."""
    now = now or timezone.now()
    if job.status != JobStatus.RUNNING or job.heartbeat_at is None:
        return None
    if now - job.heartbeat_at < QUIET_AFTER:
        return None
    taken_up = job.heartbeat_at + interrupted_after() + RESUME_EVERY
    return Pause(since=job.heartbeat_at, resumes_by=max(taken_up, now + RESUME_EVERY))


def job_actor(job: BulkJob) -> Actor:
    """The person who started the job, as the audit trail records them for each item."""
    return Actor(
        user=job.requested_by,
        username=job.actor_username,
        name=job.requested_by_name,
        sso_identity=job.sso_identity,
        sign_in_method="bulk",
        ip_address=job.ip_address,
        user_agent=job.user_agent,
        request_id=f"bulk-job-{job.pk}",
    )


def _beat(job: BulkJob) -> None:
    now = timezone.now()
    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=now)
    job.heartbeat_at = now


def _narrowing(items: list[BulkItem]) -> dict[str, str] | None:
    """A filter that still finds every item: their environments (none if any is global)."""
    environments = sorted({item.environment_id for item in items})
    if not environments or "" in environments or len(environments) > 50:
        return None
    return {"virtual_environment_id": ",".join(environments)}


def apply_item(
    job: BulkJob, item: BulkItem, current: Deployment | None, *, actor: Actor
) -> BulkItem:
    """One item, through the one write path: settled by reading if an earlier run stopped
    while sending it, else claimed (its attempt and its "sending" mark committed together) and
    sent once."""
    wanted = job.action == BulkJob.Action.ENABLE
    if item.status == ItemStatus.SENDING:
        return _settle(item, current, wanted)
    if current is None:
        message = "This deployment no longer exists in Patchworks."
        _refuse(job, item, actor, item.ref, message)
        return _finish_item(item, ItemStatus.FAILED, message)

    def claim(attempt) -> bool:
        return bool(
            BulkItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).update(
                status=ItemStatus.SENDING,
                attempt_started_at=timezone.now(),
                attempt_event_id=attempt.pk,
            )
        )

    try:
        writes.set_enabled(
            actor=actor,
            user=_requester_now(job),
            ref=item.ref,
            enabled=wanted,
            reason=job.reason,
            controls=_controls(job, current),
            current=current,
            on_attempt=claim,
            context={"bulk_job_id": job.pk},
        )
    except writes.Withdrawn:
        item.refresh_from_db()
        return item
    except NameNotConfirmed:
        return _finish_item(item, ItemStatus.FAILED, NAME_NOT_TYPED)
    except (ConsoleError, PatchworksError, MissingApiKey, audit.AuditUnavailable) as error:
        if database.unreachable(error):
            raise  # nothing was sent: the job pauses, and the item goes when the database is back
        if pausing.is_busy(error):
            _wait_again(item, pausing.waiting_words(error))
            raise PatchworksBusy(item, error) from error
        outcome = writes.outcome_of(error)
        status = ITEM_STATUS[outcome.kind]
        return _finish_item(item, status, outcome.message, upstream_status=outcome.upstream_status)
    return _finish_item(item, ItemStatus.DONE, f"{'Enabled' if wanted else 'Disabled'}.")


def _wait_again(item: BulkItem, message: str) -> None:
    """The item's attempt ended without Patchworks acting: it waits to be sent again (with a
    new attempt)."""
    BulkItem.objects.filter(pk=item.pk, status=ItemStatus.SENDING).update(
        status=ItemStatus.PENDING, message=message, attempt_started_at=None, attempt_event_id=None
    )
    item.refresh_from_db()


def _requester_now(job: BulkJob):
    """The person who started the job as they are now: a leaver or a lost role stops the next
    item, not only the next job."""
    if job.requested_by_id is None:
        return None
    return get_user_model().objects.filter(pk=job.requested_by_id).first()


def _controls(job: BulkJob, current: Deployment) -> Controls:
    """The names typed in the preview, and the job's approved request, for the gate."""
    name = current.environment_name
    typed = any(names_match(confirmed, name) for confirmed in job.confirmed_names)
    request = job.change_requests.filter(
        status__in=(ChangeRequest.Status.APPROVED, ChangeRequest.Status.APPLIED)
    ).first()
    if request is not None and needs_approval(current):
        return Controls(confirmed_elsewhere=True, change_request=request)
    return Controls(confirmed_elsewhere=typed)


def _settle(item: BulkItem, current: Deployment | None, wanted: bool) -> BulkItem:
    """An item whose write may have been sent by a stopped worker: decide by reading."""
    if current is not None and current.is_enabled == wanted:
        message = (
            "Done: the worker stopped before recording Patchworks' answer; the deployment was "
            "found changed, so nothing was sent again."
        )
    else:
        message = (
            "The worker stopped while sending this change and the deployment is unchanged, so "
            "it was not made. Nothing was sent again: retry it."
        )
    made = current is not None and current.is_enabled == wanted
    settling.settle(item.attempt_event_id, current, message=message)
    status = ItemStatus.DONE if made else ItemStatus.FAILED
    return _finish_item(item, status, message, from_status=ItemStatus.SENDING)


def _refuse(job, item, actor, target, message, before=None) -> None:
    try:
        audit.record_refusal(
            actor=actor,
            action=job.action,
            target=target,
            message=f"{message} (bulk job #{job.pk})",
            reason=job.reason,
            before=before,
            after={"bulk_job_id": job.pk},
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record bulk job %s's skipped item %s", job.pk, item.pk)


def _finish_item(
    item: BulkItem,
    status: str,
    message: str,
    *,
    upstream_status: int | None = None,
    from_status: str | None = None,
) -> BulkItem:
    rows = BulkItem.objects.filter(pk=item.pk)
    if from_status is not None:
        rows = rows.filter(status=from_status)
    rows.update(
        status=status,
        message=recorded(message),
        upstream_status=upstream_status,
        finished_at=timezone.now(),
    )
    item.refresh_from_db()
    return item


def _close_applied_request(job: BulkJob) -> None:
    """The job's approved request is applied once none of its items waits any more."""
    if job.items.filter(status=ItemStatus.WAITING).exists():
        return
    for request in job.change_requests.filter(status=ChangeRequest.Status.APPROVED):
        close(request, ChangeRequest.Status.APPLIED, job.requested_by, "Applied by the bulk job.")


def _cancelled(job: BulkJob) -> bool:
    return BulkJob.objects.filter(pk=job.pk).exclude(cancel_requested_by="").exists()


def _refuse_rest(job: BulkJob, actor: Actor, message: str) -> None:
    for item in job.items.filter(status=ItemStatus.PENDING):
        _refuse(job, item, actor, item.ref, message)
        _finish_item(item, ItemStatus.FAILED, message)


def _fail_items(items: list[BulkItem], message: str) -> None:
    for item in items:
        if item.status == ItemStatus.PENDING:
            _finish_item(item, ItemStatus.FAILED, message, from_status=ItemStatus.PENDING)


def _fail_rest(job: BulkJob, message: str) -> None:
    _fail_items(list(job.items.filter(status=ItemStatus.PENDING)), message)


def _finish_job(job: BulkJob) -> BulkJob:
    now = timezone.now()
    if _cancelled(job):
        BulkItem.objects.filter(job=job, status=ItemStatus.PENDING).update(
            status=ItemStatus.CANCELLED,
            message=f"Not sent: cancelled by {BulkJob.objects.get(pk=job.pk).cancel_requested_by}.",
            finished_at=now,
        )
        status = JobStatus.CANCELLED
    else:
        status = JobStatus.FINISHED
    if not job.items.filter(status__in=(ItemStatus.PENDING, ItemStatus.SENDING)).exists():
        BulkJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=status, finished_at=now
        )
        _close_applied_request(job)
    job.refresh_from_db()
    return job


def release_decided(*, holder: str = "") -> int:
    """Items that waited for their job's change request: sent once it is approved (the job runs
    again), not sent when it was declined, withdrawn or expired. Returns how many jobs ran."""
    ran = 0
    for request in ChangeRequest.objects.filter(
        bulk_job__items__status=ItemStatus.WAITING
    ).distinct():
        job = request.bulk_job
        if job is None:
            continue
        waiting = job.items.filter(status=ItemStatus.WAITING)
        if request.status == ChangeRequest.Status.APPROVED:
            waiting.update(status=ItemStatus.PENDING, message="")
            BulkJob.objects.filter(pk=job.pk).exclude(status=JobStatus.RUNNING).update(
                status=JobStatus.QUEUED, finished_at=None
            )
            ran += run_job(job.pk, holder=holder) is not None
        elif not request.is_open:
            closed = request.get_status_display()
            waiting.update(
                status=ItemStatus.CANCELLED,
                message=f"Not sent: change request {request.pk} was {closed}.",
                finished_at=timezone.now(),
            )
    return ran


def resume_stalled(*, holder: str = "") -> int:
    """Take up jobs whose worker stopped (or whose queued task was lost); returns how many."""
    now = timezone.now()
    stale = now - interrupted_after()
    ids = list(
        BulkJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale).values_list(
            "pk", flat=True
        )
    ) + list(
        BulkJob.objects.filter(
            status=JobStatus.QUEUED, created_at__lt=now - timedelta(minutes=2)
        ).values_list("pk", flat=True)
    )
    return sum(1 for pk in ids if run_job(pk, holder=holder) is not None)
