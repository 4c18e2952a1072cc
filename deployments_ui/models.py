"""The console's own data: encrypted API keys, the audit trail and the drift snapshot.

Deployments themselves live in Patchworks; nothing here caches them except the snapshot
that drift detection compares against.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConsoleAccess(models.Model):
    """Holds the console's permissions; roles (Django groups) are built from these."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_deployments", "See deployments, their history and the audit log"),
            ("toggle_deployments", "Enable and disable deployments"),
            ("change_deployments", "Create, edit and delete deployments"),
            ("manage_console", "Manage users, roles, the service key and settings"),
            ("break_glass", "Apply changes without approval or during a freeze, with a reason"),
        ]

    def __str__(self) -> str:
        return "Console access"


class ApiCredential(models.Model):
    """A person's own Patchworks API key, stored only as Fernet ciphertext."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_credential"
    )
    encrypted_key = models.TextField()
    last_four = models.CharField(max_length=4)
    saved_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"API key ending {self.last_four} for {self.user}"


class ServiceCredential(models.Model):
    """The service key for background jobs (drift detection), set by an admin; one row, pk=1."""

    encrypted_key = models.TextField()
    last_four = models.CharField(max_length=4)
    saved_at = models.DateTimeField(default=timezone.now)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Service key ending {self.last_four}"


class AuditEvent(models.Model):
    """One row of the append-only audit trail.

    Rows are never changed. An attempted write is recorded as an `attempt` row (outcome
    `pending`) before the remote call, and its outcome as a second row whose `completes`
    points at the attempt. Refusals and changes seen from outside are single rows.
    Every row carries a hash over its content and the previous row's hash.
    """

    class Action(models.TextChoices):
        CREATE = "create", "created"
        UPDATE = "update", "changed"
        DELETE = "delete", "deleted"
        ENABLE = "enable", "enabled"
        DISABLE = "disable", "disabled"
        SCHEDULE = "schedule", "scheduled"
        RESCHEDULE = "reschedule", "moved a scheduled change"
        UNSCHEDULE = "unschedule", "cancelled a scheduled change"
        # Change control: steps of a change request, overrides and rule changes.
        REQUEST = "request", "asked for approval"
        REQUEST_EDIT = "request_edit", "edited a change request"
        APPROVE = "approve", "approved"
        DECLINE = "decline", "declined"
        EXPIRE = "expire", "expired"
        BREAK_GLASS = "break_glass", "applied without approval (break glass)"
        FREEZE_OVERRIDE = "freeze_override", "overrode a freeze window"
        CONTROL_SETTINGS = "control_settings", "changed change control"
        # About people, not deployments (shown to those who may see the whole audit log).
        SIGN_IN_FAILED = "sign_in_failed", "failed to sign in"
        LOCKED_OUT = "locked_out", "locked out"
        UNLOCKED = "unlocked", "unlocked"
        SSO_REFUSED = "sso_refused", "refused a single sign-on"
        SSO_LINKED = "sso_linked", "linked a single sign-on identity"
        ROLES_CHANGED = "roles_changed", "changed roles"
        API_KEY_SAVED = "api_key_saved", "saved an API key"
        API_KEY_REMOVED = "api_key_removed", "removed an API key"
        BULK = "bulk", "started a bulk change"
        FEED_MADE = "feed_made", "made a calendar feed link"
        FEED_REVOKED = "feed_revoked", "revoked a calendar feed link"

    class Outcome(models.TextChoices):
        PENDING = "pending", "in progress"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        REFUSED = "refused", "refused by the console"
        UNKNOWN = "unknown", "outcome unknown"

    class Source(models.TextChoices):
        CONSOLE = "console", "the console"
        PATCHWORKS = "patchworks", "outside the console"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CONSOLE)
    action = models.CharField(max_length=20, choices=Action.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    completes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="results",
    )

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    sso_identity = models.CharField(max_length=255, blank=True)
    sign_in_method = models.CharField(max_length=20, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    deployment_id = models.CharField(max_length=40, blank=True, db_index=True)
    flow_version_id = models.CharField(max_length=40, blank=True, db_index=True)
    flow_id = models.CharField(max_length=40, blank=True, db_index=True)
    flow_name = models.CharField(max_length=255, blank=True)
    environment_id = models.CharField(max_length=40, blank=True)
    environment_name = models.CharField(max_length=255, blank=True)
    environment_type = models.CharField(max_length=10, blank=True)

    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["action", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} deployment {self.deployment_id} ({self.outcome})"


class AuditChainHead(models.Model):
    """A single row locked while appending, so concurrent writers extend the chain in turn."""

    last_hash = models.CharField(max_length=64, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    # The first event hashed with the audit key (HMAC); events before it use plain sha256.
    keyed_from_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Audit chain head at event {self.last_event_id}"


class DeploymentSnapshot(models.Model):
    """The last state of each deployment seen by drift detection."""

    deployment_id = models.CharField(max_length=40, unique=True)
    flow_version_id = models.CharField(max_length=40)
    state = models.JSONField()
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Snapshot of deployment {self.deployment_id}"


class SyncLease(models.Model):
    """A lease that lets one of several instances run a background job at a time."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)
    # When a run of the job last finished its work (drift detection: its first run is a baseline).
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at}"


class SsoIdentity(models.Model):
    """An identity from single sign-on and the one account it signs in as.

    Single sign-on only ever signs in to accounts that it created itself or that an
    administrator linked here, never to a local account that merely has the same username.
    """

    identity = models.CharField(max_length=254, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on identity"

    def __str__(self) -> str:
        return self.identity


# Rooms keep their models in their own package; importing them here keeps the app label.
from deployments_ui.bulk.models import BulkItem, BulkJob  # noqa: E402, F401
from deployments_ui.change_calendar.models import CalendarFeed  # noqa: E402, F401
from deployments_ui.changes.models import (  # noqa: E402, F401
    ChangeDecision,
    ChangeRequest,
    ChangeRule,
    FreezeWindow,
)
from deployments_ui.notifications.models import Delivery, Subscription, Webhook  # noqa: E402, F401
from deployments_ui.patchworks.models import UpstreamBudget  # noqa: E402, F401
from deployments_ui.saved_views.models import SavedView  # noqa: E402, F401
from deployments_ui.schedules.models import ScheduledChange  # noqa: E402, F401
