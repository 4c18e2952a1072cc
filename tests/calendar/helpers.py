"""Calendar test data: scheduled changes, freeze windows and change requests, as the rooms save
them, and the audit events from tests.factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from deployments_ui.changes.models import ChangeRequest, FreezeWindow
from deployments_ui.schedules.models import ScheduledChange

UK_LIVE = {"environment_id": "2", "environment_name": "UK Live", "environment_type": "live"}
UK_TEST = {"environment_id": "3", "environment_name": "UK Test", "environment_type": "test"}


def scheduled(
    due_at: datetime,
    *,
    action: str = "disable",
    user=None,
    until: datetime | None = None,
    flow: str = "Orders → Shopify",
    deployment: str = "101",
    environment: dict | None = None,
    reason: str = "supplier maintenance",
    status: str = ScheduledChange.Status.PENDING,
) -> ScheduledChange:
    return ScheduledChange.objects.create(
        deployment_id=deployment,
        flow_version_id="11",
        flow_name=flow,
        flow_version_iteration=3,
        **(environment or UK_LIVE),
        action=action,
        due_at=due_at,
        until=until,
        reason=reason,
        requested_by=user,
        requested_by_name=user.get_full_name() if user else "Ann Smith",
        time_zone="Europe/London",
        status=status,
    )


def weekly_freeze(
    *,
    start_day: int = 4,
    start: str = "18:00",
    end_day: int = 0,
    end: str = "06:00",
    zone: str = "Europe/London",
    scope: str = FreezeWindow.Scope.LIVE,
    description: str = "weekend freeze",
    **extra,
) -> FreezeWindow:
    return FreezeWindow.objects.create(
        kind=FreezeWindow.Kind.WEEKLY,
        start_day=start_day,
        start_time=datetime.strptime(start, "%H:%M").time(),
        end_day=end_day,
        end_time=datetime.strptime(end, "%H:%M").time(),
        time_zone=zone,
        scope=scope,
        description=description,
        **extra,
    )


def once_freeze(
    starts_at: datetime,
    hours: float = 3,
    *,
    zone: str = "Europe/London",
    scope: str = FreezeWindow.Scope.ALL,
    description: str = "CHG-42 release",
    **extra,
) -> FreezeWindow:
    return FreezeWindow.objects.create(
        kind=FreezeWindow.Kind.ONCE,
        starts_at=starts_at,
        # In real time, not on the wall clock (which skips or repeats an hour when clocks change).
        ends_at=starts_at.astimezone(UTC) + timedelta(hours=hours),
        time_zone=zone,
        scope=scope,
        description=description,
        **extra,
    )


def open_request(user, *, action: str = "disable", deployment: str = "101") -> ChangeRequest:
    return ChangeRequest.objects.create(
        action=action,
        flow_version_id="11",
        deployment_id=deployment,
        flow_name="Orders → Shopify",
        **UK_LIVE,
        summary=f"{action} Orders → Shopify in UK Live",
        requested_by=user,
        expires_at=timezone.now() + timedelta(days=3),
    )
