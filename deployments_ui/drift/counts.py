"""How many deployments drift detection last saw enabled (no request: its snapshot)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max

from deployments_ui.drift.models import DeploymentSnapshot


def enabled_seen() -> tuple[int, datetime] | None:
    """(enabled deployments, when last seen) from the snapshot; None before its first run."""
    newest = DeploymentSnapshot.objects.aggregate(at=Max("seen_at"))["at"]
    if newest is None:
        return None
    return DeploymentSnapshot.objects.filter(state__values__enabled=True).count(), newest
