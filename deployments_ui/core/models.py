"""Leases: one instance of the console at a time runs a background job."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SyncLease(models.Model):
    """A lease that lets one of several instances run a background job at a time."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)
    # When a run of the job last finished its work (drift detection: its first run is a baseline).
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at}"
