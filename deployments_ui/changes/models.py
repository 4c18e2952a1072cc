"""Change control's own data: rules, change requests with their decisions, freeze windows."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop, pgettext

from deployments_ui.core.identity import DeploymentIdentity

ENVIRONMENT_TYPES = (("live", "live"), ("test", "test"))
WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
MINUTES_A_WEEK = 7 * 24 * 60


class ChangeRule(models.Model):
    """What a change to one environment type, or to one environment, must go through.

    A rule for an environment wins over the rule for its type.
    """

    environment_type = models.CharField(max_length=10, blank=True, choices=ENVIRONMENT_TYPES)
    environment_id = models.CharField(max_length=40, blank=True)
    environment_name = models.CharField(max_length=255, blank=True)
    needs_approval = models.BooleanField(default=False)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    confirm_name = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment_type", "environment_id"], name="one_rule_per_scope"
            )
        ]

    def __str__(self) -> str:
        scope = self.environment_name or self.environment_id or f"{self.environment_type} type"
        return f"Change rule for {scope}"


class ChangeRequest(DeploymentIdentity):
    """A change to a protected environment, waiting for another person's approval."""

    class Status(models.TextChoices):
        OPEN = "open", "waiting for approval"
        APPROVED = "approved", "approved, not applied yet"
        APPLIED = "applied", "applied"
        DECLINED = "declined", "declined"
        STALE = "stale", "not applied: the deployment changed since"
        FAILED = "failed", "applying failed"
        EXPIRED = "expired", "expired"
        WITHDRAWN = "withdrawn", "withdrawn by the person who asked"
        MISSED = "missed", "not applied: still waiting for approval at its time"

    OPEN_STATUSES = (Status.OPEN, Status.APPROVED)

    action = models.CharField(max_length=20)
    # The deployment's state when the request was made (None for a create), and what to send.
    expected = models.JSONField(null=True, blank=True)
    proposed = models.JSONField(default=dict)
    # The deployment's state once applied, as the audit trail records it (None for a delete).
    after = models.JSONField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every edit: only decisions on the current revision count.
    revision = models.PositiveIntegerField(default=1)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    apply_when_approved = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    break_glass_reason = models.TextField(blank=True)
    outcome_message = models.TextField(blank=True)
    # A scheduled change asks for approval at once and is applied at `due_at` once approved;
    # an "off until" disable is re-enabled at `until` under the same approval.
    due_at = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    # A bulk job's items in environments that need approval ask in one request.
    bulk_job = models.ForeignKey(
        "deployments_ui.BulkJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="change_requests",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Change request {self.pk}: {self.summary}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def break_glass(self) -> bool:
        return bool(self.break_glass_reason)

    def current_decisions(self):
        return self.decisions.filter(revision=self.revision)

    def approvals(self):
        return self.current_decisions().filter(approved=True)


class ChangeDecision(models.Model):
    """One person's approval or decline of one revision of a change request."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField()
    reason = models.TextField(blank=True)
    revision = models.PositiveIntegerField()
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user", "revision"], name="one_decision_per_person_revision"
            )
        ]

    def __str__(self) -> str:
        return f"{'Approval' if self.approved else 'Decline'} of change request {self.request_id}"


class FreezeWindow(models.Model):
    """A time when changes to some environments are refused: once, or every week."""

    class Kind(models.TextChoices):
        ONCE = "once", gettext_noop("once")
        WEEKLY = "weekly", gettext_noop("every week")

    class Scope(models.TextChoices):
        LIVE = "live", gettext_noop("every live environment")
        TEST = "test", gettext_noop("every test environment")
        ALL = "all", gettext_noop("every environment")
        CHOSEN = "chosen", gettext_noop("the environments chosen")

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ONCE)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    start_day = models.PositiveSmallIntegerField(null=True, blank=True, choices=WEEKDAYS)
    start_time = models.TimeField(null=True, blank=True)
    end_day = models.PositiveSmallIntegerField(null=True, blank=True, choices=WEEKDAYS)
    end_time = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="Europe/London")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.LIVE)
    environment_ids = models.JSONField(default=list, blank=True)
    environment_names = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Freeze window {self.pk}: {self.when_text}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def covers(self, environment_id: str | None, environment_type: str | None) -> bool:
        if self.scope == self.Scope.ALL:
            return True
        if self.scope == self.Scope.CHOSEN:
            return bool(environment_id) and str(environment_id) in self.environment_ids
        return environment_type == self.scope

    def occurrence_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) of this window's occurrence in force at `at`, if any."""
        if self.kind == self.Kind.ONCE:
            if self.starts_at and self.ends_at and self.starts_at <= at < self.ends_at:
                return self.starts_at, self.ends_at
            return None
        start = self._latest_weekly_start(at)
        end = start + self._weekly_length()
        return (start, end) if start <= at < end else None

    def next_occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) of the next occurrence starting after `at`, if there is one."""
        if self.kind == self.Kind.ONCE:
            if self.starts_at and self.ends_at and self.starts_at > at:
                return self.starts_at, self.ends_at
            return None
        start = self._latest_weekly_start(at) + timedelta(days=7)
        return start, start + self._weekly_length()

    def _weekly(self) -> tuple[int, time, int, time]:
        """A weekly window's start day and time, end day and time (the form requires all four)."""
        if (
            self.start_day is None
            or self.start_time is None
            or self.end_day is None
            or self.end_time is None
        ):
            raise ValueError(f"Weekly freeze window {self.pk} has no start or end day and time")
        return self.start_day, self.start_time, self.end_day, self.end_time

    def _weekly_length(self) -> timedelta:
        start_day, start_time, end_day, end_time = self._weekly()
        start = start_day * 1440 + start_time.hour * 60 + start_time.minute
        end = end_day * 1440 + end_time.hour * 60 + end_time.minute
        return timedelta(minutes=(end - start) % MINUTES_A_WEEK or MINUTES_A_WEEK)

    def _latest_weekly_start(self, at: datetime) -> datetime:
        """The most recent start (on or before `at`), in the window's own time zone."""
        start_day, start_time, _, _ = self._weekly()
        local = at.astimezone(self.zone)
        days_back = (local.weekday() - start_day) % 7
        day = (local - timedelta(days=days_back)).date()
        start = datetime.combine(day, start_time, tzinfo=self.zone)
        if start > local:
            start = datetime.combine(day - timedelta(days=7), start_time, tzinfo=self.zone)
        return start

    @property
    def when_text(self) -> str:
        """When the window is in force, worded in the language active now (the reader's on a
        page, the console's own when recorded)."""
        if self.kind == self.Kind.ONCE:
            shown = pgettext("a day and time with its year (date format)", "D d M Y H:i")
            words = {
                "start": date_format(self.starts_at.astimezone(self.zone), shown)
                if self.starts_at
                else "?",
                "end": date_format(self.ends_at.astimezone(self.zone), shown)
                if self.ends_at
                else "?",
                "zone": self.time_zone,
            }
            return gettext("%(start)s to %(end)s (%(zone)s)") % words
        start_day, start_time, end_day, end_time = self._weekly()
        words = {
            "start_day": str(WEEKDAYS_ABBR[start_day]),
            "start": f"{start_time:%H:%M}",
            "end_day": str(WEEKDAYS_ABBR[end_day]),
            "end": f"{end_time:%H:%M}",
            "zone": self.time_zone,
        }
        return gettext("every %(start_day)s %(start)s to %(end_day)s %(end)s (%(zone)s)") % words

    @property
    def scope_text(self) -> str:
        if self.scope == self.Scope.CHOSEN:
            names = self.environment_names or self.environment_ids
            return ", ".join(str(name) for name in names) or "no environment"
        return self.get_scope_display()
