"""The calendar's own data: each person's secret feed link, kept only as a hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CalendarFeed(models.Model):
    """A person's subscribable calendar link (ICS): its token's SHA-256 and the filters it
    was made with. The token itself is shown once, when made, and never stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    # The calendar page's filters when the link was made, as a query string.
    query = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"Calendar link of {self.user} ({state})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
