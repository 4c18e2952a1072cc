"""The last state of each deployment seen by drift detection."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DeploymentSnapshot(models.Model):
    """The last state of each deployment seen by drift detection."""

    deployment_id = models.CharField(max_length=40, unique=True)
    flow_version_id = models.CharField(max_length=40)
    state = models.JSONField()
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Snapshot of deployment {self.deployment_id}"
