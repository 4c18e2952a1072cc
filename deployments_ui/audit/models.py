"""The audit trail's rows and the head of its hash chain."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from deployments_ui.core.identity import DeploymentIdentity


class AuditEvent(DeploymentIdentity):
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
        WITHDRAW = "withdraw", "withdrew a change request"
        MISS = "miss", "missed its time"
        BREAK_GLASS = "break_glass", "applied without waiting for approval"
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
        # People switched off (or on) and provisioned, by any route, and what that stopped.
        DEACTIVATED = "deactivated", "deactivated an account"
        REACTIVATED = "reactivated", "reactivated an account"
        PROVISIONED = "provisioned", "provisioned an account"
        SESSIONS_ENDED = "sessions_ended", "ended the sessions of an account"
        BULK_STOPPED = "bulk_stopped", "stopped a bulk change"
        SCIM_TOKEN = "scim_token", "replaced the provisioning token"
        FEED_MADE = "feed_made", "made a calendar feed link"
        FEED_REVOKED = "feed_revoked", "revoked a calendar feed link"
        TOKEN_MADE = "token_made", "made an API token"
        TOKEN_REVOKED = "token_revoked", "revoked an API token"
        WEBHOOK = "webhook", "changed a webhook"
        PASSWORD_SET = "password_set", "set the password of an account"
        SUBSCRIPTION = "subscription", "changed a notification"
        SAVED_VIEW = "saved_view", "changed a saved view"

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

    flow_version_id = models.CharField(max_length=40, blank=True, db_index=True)
    flow_id = models.CharField(max_length=40, blank=True, db_index=True)
    # Audit rows keep the version number in their before/after state, not as a column.
    flow_version_iteration = None

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
    # Which key wrote the chain (an HMAC of a fixed label, never the key), and an HMAC under the
    # key over the head's fields: neither is part of any event's hashed content.
    key_fingerprint = models.CharField(max_length=16, blank=True)
    seal = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"Audit chain head at event {self.last_event_id}"


class AuditCheckpoint(models.Model):
    """A durable, keyed record of a point in the chain: where pruning cut it, or the last head
    verify_audit proved. Signed with the audit key, so it cannot be forged without it."""

    class Kind(models.TextChoices):
        PRUNED = "pruned", "events before it were exported and removed"
        VERIFIED = "verified", "the last head verify_audit proved"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    event_id = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    keyed = models.BooleanField(default=True)
    events = models.BigIntegerField(default=0)
    key_fingerprint = models.CharField(max_length=16)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["kind", "event_id"])]

    def __str__(self) -> str:
        return f"Audit checkpoint ({self.kind}) at event {self.event_id}"


class AuditStreamCursor(models.Model):
    """How far the audit stream has delivered to one destination (the trail is the outbox)."""

    destination = models.CharField(max_length=255, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Audit stream to {self.destination} at event {self.last_event_id}"
