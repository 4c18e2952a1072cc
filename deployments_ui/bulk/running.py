"""The worker's run of a bulk job: item by item, within the upstream budget, never twice.

`apply_item` is the one path by which a job writes. Each item is claimed before it is sent: its
audit attempt and its "sending" mark are committed together, then the one write goes out. A
worker stopped in between leaves the mark; the next run (`resume_stalled`) settles such an item by
reading the deployment, never by writing it again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.credentials import MissingApiKey, api_key_for
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.bulk.services import PER_PAGE, read_states
from deployments_ui.changes import services as change_control
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import Deployment, PatchworksClient, PatchworksError, budget

logger = logging.getLogger(__name__)

ItemStatus = BulkItem.Status
JobStatus = BulkJob.Status
TOGGLE_PERMISSION = "deployments_ui.toggle_deployments"


def change_control_gate(
    *, job: BulkJob, deployment: Deployment, actor: Actor
) -> tuple[str, str] | None:
    """Change control's one gate, for a bulk item as for a click: None lets the item go, else
    the item's status and the sentence why not. The gate records what it refused or asked for
    (a freeze window, a name to type, a change request for another person to approve)."""
    before = audit.deployment_state(deployment)
    change = change_control.Change(
        action=job.action,
        target=AuditTarget.from_deployment(deployment),
        environments=(change_control.EnvironmentRef.of(deployment),),
        before=before,
        after={**before, "enabled": job.action == BulkJob.Action.ENABLE},
        reason=job.reason,
    )
    try:
        change_control.gate(actor=actor, user=job.requested_by, change=change)
    except change_control.ApprovalNeeded as requested:
        return ItemStatus.SKIPPED, requested.message
    except change_control.NameNotConfirmed:
        return ItemStatus.FAILED, (
            "Its environment asks for its name to be typed before any change: change it on "
            "the deployment's own page."
        )
    except change_control.ChangeFrozen as frozen:
        return ItemStatus.FAILED, frozen.message
    return None


def interrupted_after() -> timedelta:
    """How long a running job's heartbeat may stand still before it counts as stopped: longer
    than two calls' timeouts and a margin (it beats while waiting for the budget, too)."""
    one_call = settings.PATCHWORKS_CONNECT_TIMEOUT + settings.PATCHWORKS_READ_TIMEOUT
    return timedelta(seconds=2 * one_call + 10)


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
        try:
            _run(job)
        except Exception:
            logger.exception("Bulk job %s stopped unexpectedly", job.pk)
            _fail_rest(job, "The job stopped unexpectedly; this item was not sent.")
    return _finish_job(job)


def _run(job: BulkJob) -> None:
    actor = _actor(job)
    problem = _requester_problem(job)
    client: PatchworksClient | None = None
    if not problem and job.requested_by is not None:  # no problem: the requester is there
        try:
            client = PatchworksClient(api_key_for(job.requested_by))
        except MissingApiKey as missing:
            problem = f"{job.requested_by_name}: {missing}"
    if problem or client is None:
        _refuse_rest(job, actor, problem)
        return
    while True:
        chunk = list(
            job.items.filter(status__in=(ItemStatus.PENDING, ItemStatus.SENDING))[:PER_PAGE]
        )
        if not chunk or _cancelled(job):
            return
        try:
            found = read_states(
                client, [item.deployment_id for item in chunk], filters=_narrowing(chunk)
            )
        except PatchworksError as error:
            _fail_items(chunk, f"Could not read the deployments first: {error.message}")
            continue
        for item in chunk:
            if _cancelled(job):
                return
            apply_item(job, item, found.get(item.deployment_id), client=client, actor=actor)
            _beat(job)


def _beat(job: BulkJob) -> None:
    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())


def _narrowing(items: list[BulkItem]) -> dict[str, str] | None:
    """A filter that still finds every item: their environments (none if any is global)."""
    environments = sorted({item.environment_id for item in items})
    if not environments or "" in environments or len(environments) > 50:
        return None
    return {"virtual_environment_id": ",".join(environments)}


def apply_item(
    job: BulkJob,
    item: BulkItem,
    current: Deployment | None,
    *,
    client: PatchworksClient,
    actor: Actor,
) -> BulkItem:
    """One item: settle it if an earlier run was interrupted, skip it if already so, else
    claim it (audit attempt and mark, committed together) and send its one write."""
    wanted = job.action == BulkJob.Action.ENABLE
    target = _target(item, current)
    if item.status == ItemStatus.SENDING:
        return _settle(item, current, wanted)
    if current is None:
        message = "This deployment no longer exists in Patchworks."
        _refuse(job, item, actor, target, message)
        return _finish_item(item, ItemStatus.FAILED, message)
    if current.is_enabled == wanted:
        message = _already_words(current)
        _refuse(job, item, actor, target, message, before=audit.deployment_state(current))
        return _finish_item(item, ItemStatus.SKIPPED, message)
    held = change_control_gate(job=job, deployment=current, actor=actor)
    if held:
        status, message = held
        return _finish_item(item, status, message)
    before = audit.deployment_state(current)
    with transaction.atomic():
        attempt = audit.record_attempt(
            actor=actor,
            action=job.action,
            target=target,
            before=before,
            after={**before, "enabled": wanted, "bulk_job_id": job.pk},
            reason=job.reason,
            message=f"bulk job #{job.pk}",
        )
        claimed = BulkItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).update(
            status=ItemStatus.SENDING, attempt_started_at=timezone.now()
        )
        if not claimed:  # cancelled (or taken) since it was read: send nothing
            transaction.set_rollback(True)
            item.refresh_from_db()
            return item
    send = client.enable_deployment if wanted else client.disable_deployment
    try:
        result = send(item.flow_version_id, item.deployment_id)
    except PatchworksError as error:
        outcome = AuditEvent.Outcome.UNKNOWN if error.outcome_unknown else AuditEvent.Outcome.FAILED
        _outcome(attempt, outcome=outcome, upstream_status=error.status, message=error.message)
        status = ItemStatus.UNKNOWN if error.outcome_unknown else ItemStatus.FAILED
        return _finish_item(item, status, error.message, upstream_status=error.status)
    after = {**audit.deployment_state(result), "bulk_job_id": job.pk}
    _outcome(attempt, outcome=AuditEvent.Outcome.SUCCEEDED, after=after)
    return _finish_item(item, ItemStatus.DONE, f"{'Enabled' if wanted else 'Disabled'}.")


def _settle(item: BulkItem, current: Deployment | None, wanted: bool) -> BulkItem:
    """An item whose write may have been sent by a stopped worker: decide by reading."""
    attempt = (
        AuditEvent.objects.filter(
            request_id=f"bulk-job-{item.job_id}",
            deployment_id=item.deployment_id,
            outcome=AuditEvent.Outcome.PENDING,
            completes__isnull=True,
            results__isnull=True,
        )
        .order_by("-id")
        .first()
    )
    made = current is not None and current.is_enabled == wanted
    if made:
        message = (
            "Done: the worker stopped before recording Patchworks' answer; the deployment was "
            "found changed, so nothing was sent again."
        )
    else:
        message = (
            "The worker stopped while sending this change and the deployment is unchanged, so "
            "it was not made. Nothing was sent again: retry it."
        )
    if attempt is not None:
        outcome = AuditEvent.Outcome.SUCCEEDED if made else AuditEvent.Outcome.FAILED
        _outcome(attempt, outcome=outcome, message=message)
    status = ItemStatus.DONE if made else ItemStatus.FAILED
    return _finish_item(item, status, message, from_status=ItemStatus.SENDING)


def _already_words(current: Deployment) -> str:
    if current.is_enabled:
        who = current.enabled_by.name if current.enabled_by else "someone"
        return f"Already enabled by {who}."
    return "Already disabled."


def _actor(job: BulkJob) -> Actor:
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


def _target(item: BulkItem, current: Deployment | None) -> AuditTarget:
    if current is not None:
        return AuditTarget.from_deployment(current)
    return AuditTarget(
        deployment_id=item.deployment_id,
        flow_version_id=item.flow_version_id,
        flow_name=item.flow_name,
        environment_id=item.environment_id,
        environment_name=item.environment_name,
        environment_type=item.environment_type,
    )


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


def _outcome(attempt, **outcome) -> None:
    try:
        audit.record_outcome(attempt, **outcome)
    except (audit.AuditUnavailable, ValueError):
        logger.exception("Could not record the outcome of audit event %s", attempt.pk)


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
        message=message,
        upstream_status=upstream_status,
        finished_at=timezone.now(),
    )
    item.refresh_from_db()
    return item


def _cancelled(job: BulkJob) -> bool:
    return BulkJob.objects.filter(pk=job.pk).exclude(cancel_requested_by="").exists()


def _refuse_rest(job: BulkJob, actor: Actor, message: str) -> None:
    for item in job.items.filter(status=ItemStatus.PENDING):
        _refuse(job, item, actor, _target(item, None), message)
        _finish_item(item, ItemStatus.FAILED, message)


def _fail_items(items: list[BulkItem], message: str) -> None:
    for item in items:
        if item.status == ItemStatus.PENDING:
            _finish_item(item, ItemStatus.FAILED, message, from_status=ItemStatus.PENDING)


def _fail_rest(job: BulkJob, message: str) -> None:
    _fail_items(list(job.items.filter(status=ItemStatus.PENDING)), message)


def _requester_problem(job: BulkJob) -> str:
    user = job.requested_by
    if user is None or not user.is_active:
        return f"{job.requested_by_name} no longer has a console account."
    if not user.has_perm(TOGGLE_PERMISSION):
        return f"{job.requested_by_name} may no longer enable or disable deployments."
    return ""


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
    job.refresh_from_db()
    return job


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
