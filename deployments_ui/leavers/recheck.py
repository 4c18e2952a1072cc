"""A change of someone's roles re-checks what waits in their name, at its own place.

Open change requests they asked for, their pending scheduled changes and the items of their
bulk jobs not yet sent stop when their role there (accounts.scopes) no longer allows the change,
each audited, instead of failing later at their time. The write path checks again when anything
is applied, so this is the early, visible answer, not the only guard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts import access, scopes
from deployments_ui.audit.models import AuditEvent
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.schedules.models import ScheduledChange

logger = logging.getLogger(__name__)
Action = AuditEvent.Action
WHY = "the role of the person who asked no longer allows it there"


@dataclass(frozen=True)
class Recheck:
    withdrawn: int
    cancelled: int
    skipped: int


def recheck(*, user: User, actor: audit.Actor) -> Recheck:
    """Stop what `user`'s roles no longer allow (see the module's docstring)."""
    scopes.forget(user)
    with transaction.atomic():
        result = Recheck(
            withdrawn=_requests(user, actor),
            cancelled=_schedules(user, actor),
            skipped=_bulk_items(user),
        )
    if any((result.withdrawn, result.cancelled, result.skipped)):
        logger.info("Roles of user %s changed: %s", user.pk, result)
    return result


def _requests(user: User, actor: audit.Actor) -> int:
    withdrawn = 0
    waiting = ChangeRequest.objects.select_for_update().filter(
        requested_by=user, status__in=ChangeRequest.OPEN_STATUSES, bulk_job_id__isnull=True
    )
    for request in waiting:
        if access.may_act(user, request.action, request.ref):
            continue
        ChangeRequest.objects.filter(pk=request.pk).update(
            status=ChangeRequest.Status.WITHDRAWN,
            closed_at=timezone.now(),
            outcome_message=f"Withdrawn: {WHY}.",
        )
        audit.record_local(
            actor=actor,
            action=Action.WITHDRAW,
            target=request.ref,
            before=request.expected,
            after={"change": request.action, "change_request": request.pk},
            message=f"Withdrawn because {WHY}.",
        )
        withdrawn += 1
    return withdrawn


def _schedules(user: User, actor: audit.Actor) -> int:
    cancelled = 0
    pending = ScheduledChange.objects.select_for_update().filter(
        requested_by=user, status=ScheduledChange.Status.PENDING
    )
    for change in pending:
        if access.may_act(user, change.action, change.ref):
            continue
        ScheduledChange.objects.filter(pk=change.pk).update(
            status=ScheduledChange.Status.CANCELLED,
            finished_by_name=actor.name,
            result_message=f"Cancelled: {WHY}.",
            applied_at=timezone.now(),
        )
        audit.record_local(
            actor=actor,
            action=Action.UNSCHEDULE,
            target=change.ref,
            after={"schedule_id": change.pk, "action": change.action},
            message=f"Cancelled because {WHY}.",
        )
        cancelled += 1
    return cancelled


def _bulk_items(user: User) -> int:
    skipped = 0
    active = BulkJob.objects.filter(
        requested_by=user, status__in=(BulkJob.Status.QUEUED, BulkJob.Status.RUNNING)
    )
    waiting = (BulkItem.Status.PENDING, BulkItem.Status.WAITING)
    for item in BulkItem.objects.filter(job__in=active, status__in=waiting).select_related("job"):
        problem = access.still_may_act(user, item.job.action, "they", item.ref)
        if not problem:
            continue
        skipped += BulkItem.objects.filter(pk=item.pk, status__in=waiting).update(
            status=BulkItem.Status.SKIPPED, message=problem, finished_at=timezone.now()
        )
    return skipped
