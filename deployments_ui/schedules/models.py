"""A change asked for now and made later by the background worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deployments_ui.core.identity import DeploymentIdentity
from deployments_ui.schedules.words import APPLIED, applied_words


class ScheduledChange(DeploymentIdentity):
    """One enable or disable of one deployment, due at a time, made with the requester's key.

    The deployment's ids and names are copied here so that lists and badges need no upstream
    request. `attempt_started_at` is written (and committed) before the worker calls Patchworks:
    a change found "applying" with an attempt but no outcome was interrupted, and is settled by
    reading the deployment, never by writing again.
    """

    class Action(models.TextChoices):
        ENABLE = "enable", _("enable")
        DISABLE = "disable", _("disable")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        APPLYING = "applying", _("being applied")
        APPLIED = "applied", _("applied")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")
        MISSED = "missed", "missed"

    action = models.CharField(max_length=10, choices=Action.choices)
    due_at = models.DateTimeField(db_index=True)
    # On a disable: when the paired re-enable is due ("off until").
    until = models.DateTimeField(null=True, blank=True)
    # On the re-enable of an "off until": the disable it undoes.
    undoes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by"
    )
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=255)
    time_zone = models.CharField(max_length=64, blank=True)
    state_when_asked = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    result_message = models.TextField(blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    attempt_holder = models.CharField(max_length=100, blank=True)
    # The attempt's audit event, written with the claim: a stopped write is settled by it.
    attempt_event_id = models.BigIntegerField(null=True, blank=True)
    # The environment's name was typed when the change was asked for.
    name_confirmed = models.BooleanField(default=False)
    # The change request it waits for (an environment that needs approval).
    change_request = models.ForeignKey(
        "deployments_ui.ChangeRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scheduled_changes",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    lateness_seconds = models.FloatField(null=True, blank=True)
    finished_by_name = models.CharField(max_length=255, blank=True)

    # Not stored: the schedule list sets it on each pending change for its Move and Cancel.
    may_manage: bool

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.action} deployment {self.deployment_id} at {self.due_at} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def result_shown(self) -> str:
        """What happened, in the reader's language: worded again from what is known of it where
        the console can (an applied change's lateness), else as it was recorded (translated when
        the catalogue knows it)."""
        message = self.result_message
        applied = self.status == self.Status.APPLIED and self.lateness_seconds is not None
        if applied and self.action in APPLIED and message.startswith(("Enabled ", "Disabled ")):
            return applied_words(self.action, self.lateness_seconds or 0.0, message)
        return gettext(message) if message else ""

    @property
    def result_text(self) -> str:
        """Its status and what happened, each said once: 'Cancelled by Ann Smith.', not
        'Cancelled: Cancelled by Ann Smith.'."""
        status = str(self.get_status_display())
        status = status[:1].upper() + status[1:]
        message = self.result_shown
        if not message:
            return status
        if message.lower().startswith(status.lower()):
            return message
        return f"{status}: {message}"
