"""The audit log's filter form: the page's, the export's and the REST API's audit route's."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from deployments_ui.audit.filters import ACCOUNTS, BEFORE_HOURS, MAX_BEFORE_HOURS

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
ACTION_CHOICES = [
    ("", "Any action"),
    ("enable", "Enable"),
    ("disable", "Disable"),
    ("create", "Create"),
    ("update", "Change"),
    ("delete", "Delete"),
    ("request", "Ask for approval"),
    ("request_edit", "Edit a change request"),
    ("approve", "Approve"),
    ("decline", "Decline"),
    ("expire", "Change request expired"),
    ("withdraw", "Change request withdrawn"),
    ("break_glass", "Applied without waiting for approval"),
    ("freeze_override", "Override a freeze window"),
    ("miss", "Change request missed its time"),
    ("control_settings", "Change control settings"),
    ("webhook", "Webhook changes"),
    ("subscription", "Notification changes"),
    ("saved_view", "Saved view changes"),
    (ACCOUNTS, "Anything about people's accounts (sign-ins, roles, keys, leaving)"),
]
OUTCOME_CHOICES = [
    ("", "Any outcome"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("unknown", "Outcome unknown"),
    ("refused", "Refused by the console"),
    ("pending", "No outcome recorded"),
]
SOURCE_CHOICES = [
    ("", "Console and Patchworks"),
    ("console", "Through the console"),
    ("patchworks", "Outside the console"),
]


class IsoDateTimeField(forms.DateTimeField):
    """A date and time in ISO 8601, also when a link's "+01:00" arrived as " 01:00"."""

    def to_python(self, value):
        if isinstance(value, str):
            value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip())
        return super().to_python(value)


class AuditFilterForm(forms.Form):
    """The audit log's filters; read from the query string so every view can be shared."""

    person = forms.CharField(
        required=False,
        max_length=150,
        label="Person",
        help_text="Name, username or single sign-on name",
    )
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES, label="Action")
    outcome = forms.ChoiceField(required=False, choices=OUTCOME_CHOICES, label="Outcome")
    source = forms.ChoiceField(required=False, choices=SOURCE_CHOICES, label="Where")
    deployment = forms.CharField(required=False, max_length=40, label="Deployment id")
    flow = forms.CharField(required=False, max_length=255, label="Flow name contains")
    environment = forms.CharField(required=False, max_length=255, label="Environment")
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    before = IsoDateTimeField(
        required=False,
        label="Changes before",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="With “Hours before”: what changed in the hours before this moment",
    )
    hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BEFORE_HOURS,
        label="Hours before",
        help_text=f"{BEFORE_HOURS} unless you say",
    )

    def filters(self) -> dict[str, Any]:
        """The valid, non-empty filters (a filter that was not understood is left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: value for name, value in data.items() if value not in ("", None)}
