"""Bulk enable and disable: the preview, starting a job, cancelling and retrying it.

Reading costs little: the current state of the selected deployments is read from the list,
100 at a time (never one read per item). Writing is one request per item that needs it, sent by
the background worker within the upstream budget (background priority: people's pages first);
the worker's side is in `running`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.credentials import api_key_for
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import Deployment, PatchworksClient

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
    user: User,
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


def may_manage(user: User | AnonymousUser, job: BulkJob) -> bool:
    """Operators may cancel or retry their own jobs, Editors anyone's."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(ANYONES_PERMISSION):
        return True
    return job.requested_by_id == user.pk and user.has_perm(TOGGLE_PERMISSION)


def cancel_job(*, actor: Actor, user: User, job: BulkJob) -> int:
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


def retry_job(*, actor: Actor, user: User, job: BulkJob) -> BulkJob:
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
