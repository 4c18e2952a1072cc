"""Deactivate a person and stop, in the same transaction, everything they left running.

Each step is one audit event (or one per change request, scheduled change and job), so the
trail says what stopped because someone left. An audit trail that cannot be written
(AuditUnavailable) rolls the whole deactivation back: the caller reports a failure and the
identity provider tries again, rather than a leaver being half removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.models import ApiCredential
from deployments_ui.audit.models import AuditEvent
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.schedules.models import ScheduledChange

logger = logging.getLogger(__name__)
Action = AuditEvent.Action


@dataclass(frozen=True)
class Deactivation:
    """What stopped: how many sessions, requests, scheduled changes and jobs; whether a key."""

    sessions: int
    key_destroyed: bool
    withdrawn: int
    cancelled: int
    stopped: int


def deactivate(*, user: User, actor: audit.Actor, via: str) -> Deactivation:
    """Switch the account off and stop what it left running, all in one transaction.

    `via` says which route in plain words ("the admin page", "provisioning (SCIM)", ...).
    Safe to run again on a person already switched off: it stops whatever is still running.
    Raises AuditUnavailable (and changes nothing) when the audit trail cannot be written.
    """
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=user.pk)
        account = person.get_username()
        if person.is_active:
            person.is_active = False
            person.save(update_fields=["is_active"])
        user.is_active = False
        audit.record_account(
            actor=actor,
            action=Action.DEACTIVATED,
            account=account,
            after={"via": via},
            message=f"Switched off through {via}.",
        )
        result = Deactivation(
            sessions=_end_sessions(person, actor, account),
            key_destroyed=_destroy_key(person, actor, account),
            withdrawn=_withdraw_requests(person, actor),
            cancelled=_cancel_schedules(person, actor),
            stopped=_stop_jobs(person, actor, account),
        )
    logger.info("Deactivated user %s through %s: %s", person.pk, via, result)
    return result


def _end_sessions(user: User, actor: audit.Actor, account: str) -> int:
    """Sessions are not indexed by person: every live one is read (about 80 µs each, so 0.8 s
    for ten thousand), which is fine for a console's staff; an index would need a model."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.iterator():
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            store(session_key=session.session_key).delete()  # the cache's copy too
            ended += 1
    audit.record_account(
        actor=actor,
        action=Action.SESSIONS_ENDED,
        account=account,
        after={"sessions": ended},
        message="Signed out everywhere.",
    )
    return ended


def _destroy_key(user: User, actor: audit.Actor, account: str) -> bool:
    deleted, _ = ApiCredential.objects.filter(user=user).delete()
    if deleted:
        audit.record_account(
            actor=actor,
            action=Action.API_KEY_REMOVED,
            account=account,
            message="Destroyed because the person was deactivated.",
        )
    return bool(deleted)


def _withdraw_requests(user: User, actor: audit.Actor) -> int:
    now = timezone.now()
    open_requests = ChangeRequest.objects.select_for_update().filter(
        requested_by=user, status__in=ChangeRequest.OPEN_STATUSES
    )
    withdrawn = 0
    for request in open_requests:
        ChangeRequest.objects.filter(pk=request.pk).update(
            status=ChangeRequest.Status.WITHDRAWN,
            closed_at=now,
            outcome_message="Withdrawn: the person who asked was deactivated.",
        )
        audit.record_local(
            actor=actor,
            action=Action.WITHDRAW,
            target=request.ref,
            before=request.expected,
            after={"change": request.action, "change_request": request.pk},
            message="Withdrawn because the person who asked was deactivated.",
        )
        withdrawn += 1
    return withdrawn


def _cancel_schedules(user: User, actor: audit.Actor) -> int:
    pending = ScheduledChange.objects.select_for_update().filter(
        requested_by=user, status=ScheduledChange.Status.PENDING
    )
    cancelled = 0
    for change in pending:
        ScheduledChange.objects.filter(pk=change.pk).update(
            status=ScheduledChange.Status.CANCELLED,
            finished_by_name=actor.name,
            result_message="Cancelled: the person who asked was deactivated.",
            applied_at=timezone.now(),
        )
        audit.record_local(
            actor=actor,
            action=Action.UNSCHEDULE,
            target=change.ref,
            after={"schedule_id": change.pk, "action": change.action},
            message="Cancelled because the person who asked was deactivated.",
        )
        cancelled += 1
    return cancelled


def _stop_jobs(user: User, actor: audit.Actor, account: str) -> int:
    """As the bulk cancel does: a running job stops before its next item."""
    now = timezone.now()
    active = BulkJob.objects.select_for_update().filter(
        requested_by=user, status__in=(BulkJob.Status.QUEUED, BulkJob.Status.RUNNING)
    )
    stopped = 0
    for job in active:
        BulkJob.objects.filter(pk=job.pk).update(cancel_requested_by=actor.name or "someone")
        BulkItem.objects.filter(job=job, status=BulkItem.Status.PENDING).update(
            status=BulkItem.Status.CANCELLED,
            message="Not sent: the person who started the job was deactivated.",
            finished_at=now,
        )
        BulkJob.objects.filter(pk=job.pk, status=BulkJob.Status.QUEUED).update(
            status=BulkJob.Status.CANCELLED, finished_at=now
        )
        audit.record_account(
            actor=actor,
            action=Action.BULK_STOPPED,
            account=account,
            after={"job": job.pk},
            message="Stopped because the person who started it was deactivated.",
        )
        stopped += 1
    return stopped
