"""The upstream budget's shared state, when there is no Redis to keep it (see budget.py)."""

from __future__ import annotations

from django.db import models


class UpstreamBudget(models.Model):
    """One number shared by every process: the bucket's theoretical arrival time, or the end of
    a pause after a 429 (`pause:<key name>`), in seconds since the epoch."""

    name = models.CharField(max_length=60, primary_key=True)
    tat = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"{self.name}: {self.tat}"
