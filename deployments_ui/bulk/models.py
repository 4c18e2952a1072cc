"""A bulk enable or disable: one job, one item per deployment, run by the background worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from deployments_ui.core.identity import DeploymentIdentity


class BulkJob(models.Model):
    """Who asked for which change to how many deployments, and how far the worker has got.

    The person's request details are kept so that each item's audit event names them as a
    click would. `heartbeat_at` moves on with each item: a running job whose heartbeat stopped
    was interrupted, and the worker takes it up again (see services.resume_stalled).
    """

    class Action(models.TextChoices):
        ENABLE = "enable", "enable"
        DISABLE = "disable", "disable"

    class Status(models.TextChoices):
        QUEUED = "queued", "waiting for the worker"
        RUNNING = "running", "running"
        FINISHED = "finished", "finished"
        CANCELLED = "cancelled", "cancelled"

    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField(blank=True)
    selection = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=255)
    actor_username = models.CharField(max_length=150, blank=True)
    sso_identity = models.CharField(max_length=255, blank=True)
    sign_in_method = models.CharField(max_length=20, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    created_at = models.DateTimeField(default=timezone.now)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    cancel_requested_by = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=100, blank=True)
    # The environments' names typed in the preview, for the items whose rule asks for them.
    confirmed_names = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class BulkItem(DeploymentIdentity):
    """One deployment of a job. `attempt_started_at` is committed before the write is sent: an
    item found "sending" after a restart is settled by reading, never by writing again."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        SENDING = "sending", "being sent"
        DONE = "done", "done"
        SKIPPED = "skipped", "skipped"
        FAILED = "failed", "failed"
        UNKNOWN = "unknown", "outcome unknown"
        CANCELLED = "cancelled", "not sent (cancelled)"
        WAITING = "waiting", "waiting for approval"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    message = models.TextField(blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    # The attempt's audit event, written with the claim: a stopped write is settled by it.
    attempt_event_id = models.BigIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "deployment_id"], name="bulk_item_once_per_job")
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.environment_type == "live"
