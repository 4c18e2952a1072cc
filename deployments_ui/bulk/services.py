"""Bulk enable and disable: the preview, the job, and the worker's run of it item by item.

Reading costs little: the current state of the selected deployments is read from the list,
100 at a time (never one read per item). Writing is one request per item that needs it, sent by
the background worker within the upstream budget (background priority: people's pages first).

Each item is claimed before it is sent: its audit attempt and its "sending" mark are committed
together, then the one write goes out. A worker stopped in between leaves the mark; the next run
settles such an item by reading the deployment, never by writing it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.credentials import MissingApiKey, api_key_for
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import Deployment, PatchworksClient, PatchworksError, budget

logger = logging.getLogger(__name__)

ItemStatus = BulkItem.Status
JobStatus = BulkJob.Status
TOGGLE_PERMISSION = "deployments_ui.toggle_deployments"
ANYONES_PERMISSION = "deployments_ui.change_deployments"
PER_PAGE = 100
# Reading pages to find selected deployments stops after this many pages.
MAX_READ_PAGES = 50
FINISHED_ITEMS = (
    ItemStatus.DONE,
    ItemStatus.SKIPPED,
    ItemStatus.FAILED,
    ItemStatus.UNKNOWN,
    ItemStatus.CANCELLED,
)
RETRYABLE = (ItemStatus.FAILED, ItemStatus.UNKNOWN)


class BulkRefused(Exception):
    """The console declined to preview, start, cancel or retry; the reason is in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Selection and preview ---------------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """One selected deployment as read from Patchworks (None: it no longer exists)."""

    flow_version_id: str
    deployment_id: str
    deployment: Deployment | None


@dataclass
class Preview:
    """What a bulk change would do, before anything is sent."""

    action: str
    selected: list[Selected]
    over_cap: bool = False
    will_change: list[Selected] = field(default_factory=list)
    already: list[Selected] = field(default_factory=list)
    missing: list[Selected] = field(default_factory=list)
    live: list[Selected] = field(default_factory=list)

    def __post_init__(self) -> None:
        wanted = self.action == BulkJob.Action.ENABLE
        for item in self.selected:
            found = item.deployment
            if found is None:
                self.missing.append(item)
            elif found.is_enabled == wanted:
                self.already.append(item)
            else:
                self.will_change.append(item)
                if found.environment_type == "live":
                    self.live.append(item)

    @property
    def verb(self) -> str:
        return "enabled" if self.action == BulkJob.Action.ENABLE else "disabled"

    @property
    def summary(self) -> str:
        """'12 will be disabled; 3 are already disabled and will be skipped; 2 are in live
        environments'."""
        parts = [f"{len(self.will_change)} will be {self.verb}"]
        if self.already:
            are = "is" if len(self.already) == 1 else "are"
            parts.append(f"{len(self.already)} {are} already {self.verb} and will be skipped")
        if self.missing:
            parts.append(f"{len(self.missing)} no longer exist")
        if self.live:
            are = "is" if len(self.live) == 1 else "are"
            parts.append(f"{len(self.live)} {are} in live environments")
        return "; ".join(parts)


def parse_ids(values: Iterable[str]) -> list[tuple[str, str]]:
    """`<flow_version>:<id>` pairs, in order, without repeats; anything else is left out."""
    pairs, seen = [], set()
    for value in values:
        flow_version, _, deployment = str(value).partition(":")
        if not flow_version or not deployment or len(value) > 130 or deployment in seen:
            continue
        seen.add(deployment)
        pairs.append((flow_version.strip(), deployment.strip()))
    return pairs


def cap() -> int:
    return max(1, settings.CONSOLE_BULK_MAX_ITEMS)


def preview_ids(*, user, action: str, pairs: list[tuple[str, str]], filters=None) -> Preview:
    """The preview for deployments chosen one by one (read from the list, 100 at a time)."""
    _check_action(action)
    if not pairs:
        raise BulkRefused("Choose at least one deployment.")
    if len(pairs) > cap():
        raise BulkRefused(f"Choose at most {cap()} deployments at once.")
    client = PatchworksClient(api_key_for(user))
    found = read_states(client, [deployment for _, deployment in pairs], filters=filters)
    selected = [
        Selected(flow_version, deployment, found.get(deployment))
        for flow_version, deployment in pairs
    ]
    return Preview(action=action, selected=selected)


def preview_filter(*, user, action: str, filters: dict[str, str], sort: str | None) -> Preview:
    """The preview for every deployment matching the list's filter (up to the cap)."""
    _check_action(action)
    client = PatchworksClient(api_key_for(user))
    selected: list[Selected] = []
    page, over = 1, False
    while True:
        result = client.list_deployments(filters=filters, sort=sort, page=page, per_page=PER_PAGE)
        for item in result.items:
            if len(selected) >= cap():
                over = True
                break
            selected.append(Selected(item.flow_version_id, item.id, item))
        if over or page >= result.last_page or page >= MAX_READ_PAGES:
            over = over or result.total > cap()
            break
        page += 1
    if not selected:
        raise BulkRefused("No deployments match this filter.")
    return Preview(action=action, selected=selected, over_cap=over)


def read_states(
    client: PatchworksClient, deployment_ids: list[str], *, filters=None
) -> dict[str, Deployment]:
    """The current state of these deployments, read from the list 100 at a time.

    Patchworks' list has no filter by id, so it is read page by page (narrowed by `filters`
    when given, e.g. the environments of the items) until every id is seen or the list ends.
    """
    wanted = {str(pk) for pk in deployment_ids}
    found: dict[str, Deployment] = {}
    for attempt_filters in ([filters] if filters else []) + [None]:
        page = 1
        while wanted - found.keys():
            result = client.list_deployments(
                filters=attempt_filters, sort="created_at", page=page, per_page=PER_PAGE
            )
            for item in result.items:
                if item.id in wanted:
                    found[item.id] = item
            if page >= result.last_page or page >= MAX_READ_PAGES:
                break
            page += 1
        if not wanted - found.keys():
            break
    return found


def _check_action(action: str) -> None:
    if action not in BulkJob.Action.values:
        raise BulkRefused("Choose whether to enable or disable them.")


# Starting, cancelling, retrying --------------------------------------------------------------


def start_job(
    *,
    actor: Actor,
    user: AbstractBaseUser,
    preview: Preview,
    reason: str = "",
    selection: str = "",
    retry_of: BulkJob | None = None,
) -> BulkJob:
    """Create the job with one item per selected deployment that exists, record it, queue it."""
    items = [item for item in preview.selected if item.deployment is not None]
    if not items:
        raise BulkRefused("None of the chosen deployments exist any more.")
    job = _create(actor, user, preview.action, reason, selection, retry_of, items)
    enqueue(job)
    return job


def _create(actor, user, action, reason, selection, retry_of, items) -> BulkJob:
    with transaction.atomic():
        job = BulkJob.objects.create(
            action=action,
            reason=reason,
            selection=selection[:255],
            requested_by=user,
            requested_by_name=actor.name or user.get_username(),
            actor_username=actor.username,
            sso_identity=actor.sso_identity,
            sign_in_method=actor.sign_in_method,
            ip_address=actor.ip_address,
            user_agent=actor.user_agent[:255],
            retry_of=retry_of,
        )
        BulkItem.objects.bulk_create(
            [_item_for(job, position, item) for position, item in enumerate(items)]
        )
        words = f"{action} {len(items)} deployments as bulk job #{job.pk}"
        if retry_of is not None:
            words += f" (retrying the failed ones of job #{retry_of.pk})"
        audit.record_local(
            actor=actor,
            action=AuditEvent.Action.BULK,
            target=AuditTarget(flow_name=f"{len(items)} deployments"),
            message=words,
            reason=reason,
            after={
                "bulk_job_id": job.pk,
                "action": action,
                "deployment_ids": [str(item.deployment_id) for item in items],
            },
        )
    return job


def _item_for(job: BulkJob, position: int, item) -> BulkItem:
    if isinstance(item, BulkItem):
        return BulkItem(
            job=job,
            position=position,
            **{
                name: getattr(item, name)
                for name in (
                    "deployment_id",
                    "flow_version_id",
                    "flow_name",
                    "flow_version_iteration",
                    "environment_id",
                    "environment_name",
                    "environment_type",
                )
            },
        )
    found = item.deployment
    return BulkItem(
        job=job,
        position=position,
        deployment_id=str(found.id),
        flow_version_id=str(found.flow_version_id),
        flow_name=found.flow_name or "",
        flow_version_iteration=found.flow_version_iteration,
        environment_id=str(found.virtual_environment_id or ""),
        environment_name=found.environment_name or "",
        environment_type=found.environment_type or "",
    )


def enqueue(job: BulkJob) -> None:
    from deployments_ui.bulk.tasks import run_bulk_job

    run_bulk_job(job.pk)


def may_manage(user: AbstractBaseUser, job: BulkJob) -> bool:
    """Operators may cancel or retry their own jobs, Editors anyone's."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(ANYONES_PERMISSION):
        return True
    return job.requested_by_id == user.pk and user.has_perm(TOGGLE_PERMISSION)


def cancel_job(*, actor: Actor, user: AbstractBaseUser, job: BulkJob) -> int:
    """Stop the items not yet sent; returns how many were stopped now (a running job stops the
    rest before its next item)."""
    if not may_manage(user, job):
        raise BulkRefused("Only the person who started this job, or an Editor, can cancel it.")
    if not job.is_active:
        raise BulkRefused(f"This job has already {job.get_status_display()}.")
    now = timezone.now()
    with transaction.atomic():
        BulkJob.objects.filter(pk=job.pk).update(cancel_requested_by=actor.name or "someone")
        stopped = BulkItem.objects.filter(job=job, status=ItemStatus.PENDING).update(
            status=ItemStatus.CANCELLED,
            message=f"Not sent: cancelled by {actor.name or 'someone'}.",
            finished_at=now,
        )
        BulkJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED, finished_at=now
        )
    return stopped


def retry_job(*, actor: Actor, user: AbstractBaseUser, job: BulkJob) -> BulkJob:
    """A new job with the items that failed or whose outcome is unknown (each is read again
    before it is sent, so one that did go through is skipped, not written twice)."""
    if not may_manage(user, job):
        raise BulkRefused("Only the person who started this job, or an Editor, can retry it.")
    if job.is_active:
        raise BulkRefused("This job is still running. Wait for it to finish, or cancel it.")
    failed = list(job.items.filter(status__in=RETRYABLE))
    if not failed:
        raise BulkRefused("Nothing failed in this job, so there is nothing to retry.")
    new = _create(
        actor, user, job.action, job.reason, f"the failed ones of job #{job.pk}", job, failed
    )
    enqueue(new)
    return new


# Progress --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    counts: dict[str, int]

    @property
    def finished(self) -> int:
        return sum(self.counts.get(status, 0) for status in FINISHED_ITEMS)

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 100

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    done = property(lambda self: self.count(ItemStatus.DONE))
    skipped = property(lambda self: self.count(ItemStatus.SKIPPED))
    failed = property(lambda self: self.count(ItemStatus.FAILED))
    unknown = property(lambda self: self.count(ItemStatus.UNKNOWN))
    cancelled = property(lambda self: self.count(ItemStatus.CANCELLED))
    waiting = property(lambda self: self.count(ItemStatus.PENDING) + self.count(ItemStatus.SENDING))


def progress(job: BulkJob) -> Progress:
    counts: dict[str, int] = {}
    for status in job.items.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return Progress(total=sum(counts.values()), counts=counts)


# The worker's run ----------------------------------------------------------------------------


def change_control_gate(*, job: BulkJob, item: BulkItem, deployment: Deployment) -> str | None:
    """Hook point for change control: None lets the item go, a sentence refuses it.

    Change control (protected environments, freeze windows) plugs its one gate function in
    here, so that a bulk item is held to the same rules as a single click.
    """
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
    client = None
    if not problem:
        try:
            client = PatchworksClient(api_key_for(job.requested_by))
        except MissingApiKey as missing:
            problem = f"{job.requested_by_name}: {missing}"
    if problem:
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
    refusal = change_control_gate(job=job, item=item, deployment=current)
    if refusal:
        _refuse(job, item, actor, target, refusal, before=audit.deployment_state(current))
        return _finish_item(item, ItemStatus.FAILED, refusal)
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
