"""Who is told about which audit events, and the outbox of deliveries still to make."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventFilter(models.Model):
    """What a subscription or a webhook hears about. An empty list means "any"."""

    environment_types = models.JSONField(default=list, blank=True)
    environment_ids = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list, blank=True)
    flow_name_contains = models.CharField(max_length=255, blank=True)
    only_problems = models.BooleanField(default=False)
    # Kinds of event (see notifications.events.KINDS): console changes, drift, requests for me.
    kinds = models.JSONField(default=list, blank=True)

    class Meta:
        abstract = True


class Subscription(EventFilter):
    """One person's wish to be emailed about some events, at once or as a digest."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", "at once"
        HOURLY = "hourly", "hourly digest"
        DAILY = "daily", "daily digest"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    name = models.CharField(max_length=100)
    frequency = models.CharField(
        max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} for {self.user} ({self.frequency})"


class Webhook(EventFilter):
    """An address events are posted to, signed with a secret shown once (stored encrypted)."""

    class Format(models.TextChoices):
        SLACK = "slack", "Slack-compatible (text and blocks)"
        JSON = "json", "Generic JSON"
        GRAFANA = "grafana", "Grafana annotations (each change marked on dashboards)"

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    encrypted_secret = models.TextField()
    # Grafana's service account token, sent as "Authorization: Bearer …" (encrypted; optional).
    encrypted_token = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"Webhook {self.name}"

    @property
    def shown_url(self) -> str:
        """The address as pages show it: its host and the end of its path only (a Slack
        address carries its secret in the path)."""
        scheme, _, rest = self.url.partition("://")
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}/…{path[-4:]}" if path else f"{scheme}://{host}/"


class Delivery(models.Model):
    """One event to send to one webhook or one subscriber: written in the audit event's
    transaction, then sent (at least once) by the worker. `next_attempt_at` is also the claim:
    a worker moves it forward before sending, so that another does not send it at once too."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"
        SKIPPED = "skipped", "not sent"

    event = models.ForeignKey(
        "deployments_ui.AuditEvent",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=30, blank=True)
    # What to say, for kinds that are not an audit event's own sentence (flow health): `event`
    # is then the deployment's last change, which the message names, or none.
    message = models.TextField(blank=True)
    is_test = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        to = self.webhook or self.subscription
        return f"Event {self.event_id} to {to} ({self.status})"


class HealthSeen(models.Model):
    """How a live deployment's flow was last seen running (flow_health's kind), so that a
    change of it is told once: "started failing", "stopped running"."""

    deployment_id = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=20)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Deployment {self.deployment_id}: {self.kind}"
