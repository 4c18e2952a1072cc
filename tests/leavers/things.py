"""A person with everything a leaver can leave running: a key, an open change request, a
pending scheduled change, a queued and a running bulk job (and things that must not change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.schedules.models import ScheduledChange


@dataclass
class LeftRunning:
    request: ChangeRequest
    applied_request: ChangeRequest
    schedule: ScheduledChange
    queued_job: BulkJob
    running_job: BulkJob
    others_schedule: ScheduledChange


def _request(user: User, status: str) -> ChangeRequest:
    return ChangeRequest.objects.create(
        action="disable",
        flow_version_id="11",
        deployment_id="101",
        flow_name="Orders",
        environment_name="UK Live",
        environment_type="live",
        summary="Disable Orders in UK Live",
        requested_by=user,
        status=status,
        expires_at=timezone.now() + timedelta(days=7),
    )


def _schedule(user: User) -> ScheduledChange:
    return ScheduledChange.objects.create(
        deployment_id="101",
        flow_version_id="11",
        flow_name="Orders",
        environment_name="UK Live",
        action="disable",
        due_at=timezone.now() + timedelta(days=1),
        requested_by=user,
        requested_by_name=user.get_full_name() or user.get_username(),
    )


def _job(user: User, status: str) -> BulkJob:
    job = BulkJob.objects.create(
        action="disable",
        requested_by=user,
        requested_by_name=user.get_full_name() or user.get_username(),
        status=status,
    )
    for position in range(2):
        BulkItem.objects.create(
            job=job, position=position, deployment_id=str(101 + position), flow_version_id="11"
        )
    return job


def leave_things_running(user: User, colleague: User) -> LeftRunning:
    return LeftRunning(
        request=_request(user, ChangeRequest.Status.OPEN),
        applied_request=_request(user, ChangeRequest.Status.APPLIED),
        schedule=_schedule(user),
        queued_job=_job(user, BulkJob.Status.QUEUED),
        running_job=_job(user, BulkJob.Status.RUNNING),
        others_schedule=_schedule(colleague),
    )


def assert_all_stopped(things: LeftRunning, actor_name: str) -> None:
    for item in (things.request, things.applied_request, things.schedule, things.others_schedule):
        item.refresh_from_db()
    for job in (things.queued_job, things.running_job):
        job.refresh_from_db()
    assert things.request.status == ChangeRequest.Status.WITHDRAWN
    assert things.request.closed_at is not None
    assert things.applied_request.status == ChangeRequest.Status.APPLIED
    assert things.schedule.status == ScheduledChange.Status.CANCELLED
    assert things.others_schedule.status == ScheduledChange.Status.PENDING
    assert things.queued_job.status == BulkJob.Status.CANCELLED
    # A running job stops before its next item, as the bulk cancel makes it.
    assert things.running_job.status == BulkJob.Status.RUNNING
    assert things.running_job.cancel_requested_by == actor_name
    for job in (things.queued_job, things.running_job):
        assert set(job.items.values_list("status", flat=True)) == {BulkItem.Status.CANCELLED}
