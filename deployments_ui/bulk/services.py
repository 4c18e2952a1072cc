"""Bulk enable and disable: the preview, starting a job, cancelling and retrying it.

Reading costs little: the current state of the selected deployments is read from the list,
100 at a time (never one read per item). Writing is one request per item that needs it, sent by
the background worker within the upstream budget (background priority: people's pages first);
the worker's side is in `running`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from deployments_ui import audit
from deployments_ui.accounts import access
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.gate import needs_reason, open_request_for_many
from deployments_ui.changes.rules import name_to_confirm, names_match, needs_approval, rule_for
from deployments_ui.core.errors import ActionRefused
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.vocabulary import deployment_count
from deployments_ui.core.words import later, recorded, said
from deployments_ui.deployments import reads
from deployments_ui.patchworks import Deployment
from deployments_ui.patchworks.redis_health import REDIS_ERRORS

logger = logging.getLogger(__name__)

ItemStatus = BulkItem.Status
JobStatus = BulkJob.Status
FINISHED_ITEMS = (
    ItemStatus.DONE,
    ItemStatus.SKIPPED,
    ItemStatus.FAILED,
    ItemStatus.UNKNOWN,
    ItemStatus.CANCELLED,
)
RETRYABLE = (ItemStatus.FAILED, ItemStatus.UNKNOWN)


class BulkRefused(ActionRefused):
    """The console declined to preview, start, cancel or retry; the reason is in plain words."""

    http_status = 400


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
    # The person the preview is for: items outside their scope are not theirs to change.
    user: Any = None
    not_yours: list[Selected] = field(default_factory=list)

    def __post_init__(self) -> None:
        wanted = self.action == BulkJob.Action.ENABLE
        for item in self.selected:
            found = item.deployment
            if found is None:
                self.missing.append(item)
            elif self.user is not None and not access.may_act(self.user, self.action, found):
                self.not_yours.append(item)
            elif found.is_enabled == wanted:
                self.already.append(item)
            else:
                self.will_change.append(item)
                if found.environment_type == "live":
                    self.live.append(item)

    @property
    def names_to_type(self) -> list[str]:
        """The environments whose rule asks for their name, each typed once in the preview."""
        return sorted({name_to_confirm(item.deployment) for item in self.will_change} - {""})

    @property
    def waiting_for_approval(self) -> list[Selected]:
        """The items in environments that need approval: one change request for the job."""
        return [item for item in self.will_change if needs_approval(item.deployment)]

    @property
    def reason_required(self) -> bool:
        return any(needs_reason(item.deployment) for item in self.will_change)

    @property
    def verb(self) -> str:
        return "enabled" if self.action == BulkJob.Action.ENABLE else "disabled"

    @property
    def summary(self) -> str:
        """'12 will be disabled; 3 are already disabled and will be skipped; 2 are in live
        environments', in the reader's language."""
        enable = self.action == BulkJob.Action.ENABLE
        counted = [
            (
                len(self.will_change),
                ngettext(
                    "%(count)d will be enabled", "%(count)d will be enabled", len(self.will_change)
                )
                if enable
                else ngettext(
                    "%(count)d will be disabled",
                    "%(count)d will be disabled",
                    len(self.will_change),
                ),
            )
        ]
        if self.already:
            count = len(self.already)
            already = (
                ngettext(
                    "%(count)d is already enabled and will be skipped",
                    "%(count)d are already enabled and will be skipped",
                    count,
                )
                if enable
                else ngettext(
                    "%(count)d is already disabled and will be skipped",
                    "%(count)d are already disabled and will be skipped",
                    count,
                )
            )
            counted.append((count, already))
        if self.missing:
            count = len(self.missing)
            counted.append(
                (count, ngettext("%(count)d no longer exist", "%(count)d no longer exist", count))
            )
        if self.not_yours:
            count = len(self.not_yours)
            words = ngettext(
                "%(count)d is not yours to change and will be skipped",
                "%(count)d are not yours to change and will be skipped",
                count,
            )
            counted.append((count, words))
        if self.live:
            count = len(self.live)
            words = ngettext(
                "%(count)d is in live environments", "%(count)d are in live environments", count
            )
            counted.append((count, words))
        return "; ".join(words % {"count": count} for count, words in counted)


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
        raise BulkRefused(said("Choose at least one deployment."))
    if len(pairs) > cap():
        raise BulkRefused(said("Choose at most %(count)s deployments at once.", count=cap()))
    found = reads.read_states(
        user=user, deployment_ids=[deployment for _, deployment in pairs], filters=filters
    )
    selected = [
        Selected(flow_version, deployment, found.get(deployment))
        for flow_version, deployment in pairs
    ]
    return Preview(action=action, selected=selected, user=user)


def preview_filter(*, user, action: str, filters: dict[str, str], sort: str | None) -> Preview:
    """The preview for every deployment matching the list's filter (up to the cap)."""
    _check_action(action)
    selected: list[Selected] = []
    page, over = 1, False
    while True:
        query = reads.DeploymentQuery(
            filters=filters, sort=sort, page=page, per_page=reads.PER_PAGE
        )
        result = reads.deployment_list(user=user, query=query)
        for item in result.items:
            if len(selected) >= cap():
                over = True
                break
            selected.append(Selected(item.flow_version_id, item.id, item))
        if over or page >= result.last_page or page >= reads.MAX_READ_PAGES:
            over = over or result.total > cap()
            break
        page += 1
    if not selected:
        raise BulkRefused(said("No deployments match this filter."))
    return Preview(action=action, selected=selected, over_cap=over, user=user)


def _check_action(action: str) -> None:
    if action not in BulkJob.Action.values:
        raise BulkRefused(said("Choose whether to enable or disable them."))


# Starting, cancelling, retrying --------------------------------------------------------------


def start_job(
    *,
    actor: Actor,
    user: User,
    preview: Preview,
    reason: str = "",
    selection: str = "",
    retry_of: BulkJob | None = None,
    typed_names: list[str] | None = None,
) -> BulkJob:
    """Create the job with one item per selected deployment that exists, record it, queue it.

    Asked for as a click is: a reason where one is needed, each protected environment's name
    typed once, and one change request for the items in environments that need approval
    (they wait for it; the rest go at once)."""
    items = [item for item in preview.selected if item.deployment is not None]
    if not items:
        raise BulkRefused(said("None of the chosen deployments exist any more."))
    if len(preview.not_yours) == len(items):
        raise BulkRefused(
            said("None of the chosen deployments are yours to change. Nothing was sent.")
        )
    if preview.reason_required and not reason.strip():
        raise BulkRefused(said("Please say why: changes in live environments need a reason."))
    typed = typed_names or []
    for name in preview.names_to_type:
        if not any(names_match(entry, name) for entry in typed):
            raise BulkRefused(said("Type the environment's name, %(name)s, to confirm.", name=name))
    with transaction.atomic():
        job = _create(actor, user, preview.action, reason, selection, retry_of, items)
        BulkJob.objects.filter(pk=job.pk).update(confirmed_names=preview.names_to_type)
        _skip_not_yours(user, job, preview)
        _ask_for_approval(actor, user, job, preview)
    enqueue(job)
    return job


def _skip_not_yours(user: User, job: BulkJob, preview: Preview) -> None:
    """Items outside the person's scope are skipped at once, each saying why."""
    for selected in preview.not_yours:
        ref = DeploymentRef.of(selected.deployment)
        words = access.still_may_act(user, job.action, "you", ref) or "Not yours to change."
        job.items.filter(deployment_id=ref.deployment_id).update(
            status=ItemStatus.SKIPPED, message=recorded(words)
        )


def _ask_for_approval(actor: Actor, user: User, job: BulkJob, preview: Preview) -> None:
    """One change request for the job's items that need approval; they wait for it."""
    waiting = [DeploymentRef.of(item.deployment) for item in preview.waiting_for_approval]
    if not waiting:
        return
    ids = [ref.deployment_id for ref in waiting]
    job.items.filter(deployment_id__in=ids).update(
        status=ItemStatus.WAITING, message="Waiting for approval."
    )
    open_request_for_many(
        actor=actor,
        user=user,
        action=job.action,
        refs=waiting,
        reason=job.reason,
        bulk_job_id=job.pk,
        needed=max(rule_for(ref.environment).approvals_required for ref in waiting),
    )


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
            [
                BulkItem(job=job, position=position, **_ref(item).identity())
                for position, item in enumerate(items)
            ]
        )
        count = deployment_count(len(items))
        words = f"{action} {count} as bulk job #{job.pk}"
        if retry_of is not None:
            words += f" (retrying the failed ones of job #{retry_of.pk})"
        audit.record_local(
            actor=actor,
            action=AuditEvent.Action.BULK,
            target=DeploymentRef(flow_name=count),
            message=words,
            reason=reason,
            after={
                "bulk_job_id": job.pk,
                "action": action,
                "deployment_ids": [str(item.deployment_id) for item in items],
            },
        )
    return job


def _ref(item: BulkItem | Selected) -> DeploymentRef:
    """A retried item is copied as it was; a new one from what the preview read."""
    return item.ref if isinstance(item, BulkItem) else DeploymentRef.of(item.deployment)


# What a Huey queue out of reach raises: Redis's errors, or SQLite's for the file queue.
QUEUE_ERRORS: tuple[type[Exception], ...] = (*REDIS_ERRORS, sqlite3.Error)


def enqueue(job: BulkJob) -> None:
    from deployments_ui.bulk.tasks import run_bulk_job

    try:
        run_bulk_job(job.pk)
    except QUEUE_ERRORS:  # a queue out of reach delays the job, never loses it
        logger.warning("Could not queue bulk job %s; the worker takes it up later", job.pk)


def may_manage(user: User | AnonymousUser, job: BulkJob) -> bool:
    """Operators may cancel or retry their own jobs, Editors anyone's."""
    return access.may_manage(user, job.requested_by_id)


def cancel_job(*, actor: Actor, user: User, job: BulkJob) -> int:
    """Stop the items not yet sent; returns how many were stopped now (a running job stops the
    rest before its next item)."""
    if not may_manage(user, job):
        raise BulkRefused(
            said("Only the person who started this job, or an Editor, can cancel it.")
        )
    if not job.is_active:
        raise BulkRefused(_already(job.get_status_display()))
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
        raise BulkRefused(said("Only the person who started this job, or an Editor, can retry it."))
    if job.is_active:
        raise BulkRefused(said("This job is still running. Wait for it to finish, or cancel it."))
    failed = list(job.items.filter(status__in=RETRYABLE))
    if not failed:
        raise BulkRefused(said("Nothing failed in this job, so there is nothing to retry."))
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


def _already(status: str) -> str:
    return later(lambda: gettext("This job has already %(status)s.") % {"status": gettext(status)})
