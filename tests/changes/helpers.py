"""Rules and windows for change control tests, set as an Admin would and seen at once."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from deployments_ui.changes.models import ChangeRule, FreezeWindow
from deployments_ui.changes.rules import forget_snapshots


def protect(kind: str = "live", *, approvals: int = 1, confirm_name: bool = False) -> ChangeRule:
    rule, _ = ChangeRule.objects.update_or_create(
        environment_type=kind,
        environment_id="",
        defaults={
            "needs_approval": approvals > 0,
            "approvals_required": max(approvals, 1),
            "confirm_name": confirm_name,
        },
    )
    forget_snapshots()
    return rule


def freeze_now(scope: str = "all", description: str = "CHG-42 release") -> FreezeWindow:
    now = timezone.now()
    window = FreezeWindow.objects.create(
        kind=FreezeWindow.Kind.ONCE,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        time_zone="Europe/London",
        scope=scope,
        description=description,
    )
    forget_snapshots()
    return window
