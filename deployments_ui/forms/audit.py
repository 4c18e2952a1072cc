"""The audit log's filter form: the page's, the export's and the REST API's audit route's."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from deployments_ui.audit.filters import ACCOUNTS, BEFORE_HOURS, MAX_BEFORE_HOURS

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
ACTION_CHOICES = [
    ("", _("Any action")),
    ("enable", _("Enable")),
    ("disable", _("Disable")),
    ("create", _("Create")),
    ("update", pgettext_lazy("bulk action", "Change")),
    ("delete", _("Delete")),
    ("request", _("Ask for approval")),
    ("request_edit", _("Edit a change request")),
    ("approve", _("Approve")),
    ("decline", _("Decline")),
    ("expire", _("Change request expired")),
    ("withdraw", _("Change request withdrawn")),
    ("break_glass", _("Applied without waiting for approval")),
    ("freeze_override", _("Override a freeze window")),
    ("miss", _("Change request missed its time")),
    ("control_settings", _("Change control settings")),
    ("webhook", _("Webhook changes")),
    ("subscription", _("Notification changes")),
    ("saved_view", _("Saved view changes")),
    (ACCOUNTS, "Anything about people's accounts (sign-ins, roles, keys, leaving)"),
]
OUTCOME_CHOICES = [
    ("", _("Any outcome")),
    ("succeeded", _("Succeeded")),
    ("failed", _("Failed")),
    ("unknown", _("Outcome unknown")),
    ("refused", _("Refused by the console")),
    ("pending", _("No outcome recorded")),
]
SOURCE_CHOICES = [
    ("", _("Console and Patchworks")),
    ("console", _("Through the console")),
    ("patchworks", _("Outside the console")),
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
        label=_("Person"),
        help_text=_("Name, username or single sign-on name"),
    )
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES, label=_("Action"))
    outcome = forms.ChoiceField(required=False, choices=OUTCOME_CHOICES, label=_("Outcome"))
    source = forms.ChoiceField(required=False, choices=SOURCE_CHOICES, label=_("Where"))
    deployment = forms.CharField(required=False, max_length=40, label=_("Deployment id"))
    flow = forms.CharField(required=False, max_length=255, label=_("Flow name contains"))
    environment = forms.CharField(required=False, max_length=255, label=_("Environment"))
    date_from = forms.DateField(
        required=False,
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    date_to = forms.DateField(
        required=False,
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    before = IsoDateTimeField(
        required=False,
        label=_("Changes before"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("With “Hours before”: what changed in the hours before this moment"),
    )
    hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BEFORE_HOURS,
        label=_("Hours before"),
        help_text=format_lazy(_("{hours} unless you say"), hours=BEFORE_HOURS),
    )

    def filters(self) -> dict[str, Any]:
        """The valid, non-empty filters (a filter that was not understood is left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: value for name, value in data.items() if value not in ("", None)}
