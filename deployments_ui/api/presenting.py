"""Console values as the API's schemas: deployments, change requests and audit entries."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.urls import reverse
from ninja.errors import ValidationError

from deployments_ui.audit.entries import AuditEntry, describe
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.patchworks import Deployment
from deployments_ui.presenters import deployment_label
from deployments_ui.schedules.models import ScheduledChange


def invalid_form(form: forms.Form) -> ValidationError:
    """A form's errors as the API's field errors (400)."""
    return ValidationError(
        [
            {"loc": (name,), "msg": str(message), "type": "form"}
            for name, messages in form.errors.items()
            for message in messages
        ]
    )


def deployment_out(request: HttpRequest, found: Deployment) -> dict[str, Any]:
    environment = found.virtual_environment
    enabled_by = found.enabled_by
    return {
        "id": found.id,
        "flow_version_id": found.flow_version_id,
        "flow_id": found.flow_id,
        "flow_name": found.flow_name,
        "version": found.flow_version_iteration,
        "environment": (
            {"id": environment.id, "name": environment.name, "type": environment.type}
            if environment
            else None
        ),
        "is_global": found.is_global,
        "enabled": found.is_enabled,
        "enabled_at": found.enabled_at,
        "enabled_by": enabled_by.name if enabled_by else None,
        "priority": found.priority,
        "package": found.package.name if found.package else None,
        "label": deployment_label(found),
        "url": request.build_absolute_uri(
            reverse("deployment-detail", args=(found.flow_version_id, found.id))
        ),
    }


def change_request_out(request: HttpRequest, change: ChangeRequest) -> dict[str, Any]:
    person = change.requested_by
    return {
        "id": change.pk,
        "status": change.status,
        "summary": change.summary,
        "reason": change.reason,
        "requested_by": (person.get_full_name() or person.get_username()) if person else "",
        "approvals_required": change.approvals_required,
        "due_at": change.due_at,
        "url": request.build_absolute_uri(reverse("change-detail", args=(change.pk,))),
        "api_url": request.build_absolute_uri(
            reverse("api:change-request-detail", args=(change.pk,))
        ),
    }


def scheduled_out(change: ScheduledChange) -> dict[str, Any]:
    return {
        "id": change.pk,
        "action": change.action,
        "due_at": change.due_at,
        "status": change.status,
    }


def entry_out(request: HttpRequest, entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "occurred_at": entry.occurred_at,
        "sentence": describe(entry),
        "action": entry.action,
        "outcome": entry.outcome,
        "actor": entry.actor,
        "deployment_id": entry.deployment_id,
        "flow_version_id": entry.flow_version_id,
        "reason": entry.reason,
        "url": request.build_absolute_uri(reverse("audit-event", args=(entry.id,))),
    }
