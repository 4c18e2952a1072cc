"""Forms for asking for and moving a scheduled change, with times in the person's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from deployments_ui.core.vocabulary import LATEST_YEAR, TOO_LATE, zone_named
from deployments_ui.schedules.models import ScheduledChange

LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _ZonedForm(forms.Form):
    """Times typed as wall-clock times in `time_zone` (the browser's, sent by console.js), else
    in the zone the page was shown in; stored aware."""

    time_zone = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    def zone(self):
        name = self.data.get("time_zone", "") if self.is_bound else ""
        return zone_named(name) or timezone.get_current_timezone()

    def zone_name(self) -> str:
        return str(self.zone())

    def _aware(self, name: str, *, required: bool) -> datetime | None:
        raw = (self.data.get(name) or "").strip()
        if not raw or raw == "now":
            if required:
                raise forms.ValidationError(_("Choose a date and time."), code="required")
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise forms.ValidationError(
                _("Enter a date and time such as 2026-12-01 18:00."), code="invalid"
            ) from None
        if value.year >= LATEST_YEAR:
            raise forms.ValidationError(TOO_LATE, code="invalid")
        if timezone.is_naive(value):
            value = timezone.make_aware(value, self.zone())
        return value


class ScheduleForm(_ZonedForm):
    """Enable at a time; disable at a time; or disable (now or at a time) until a time."""

    action = forms.ChoiceField(
        choices=[
            (ScheduledChange.Action.ENABLE, _("Enable")),
            (ScheduledChange.Action.DISABLE, _("Disable")),
        ],
        widget=forms.RadioSelect,
        label=pgettext_lazy("bulk action", "Change"),
    )
    at = forms.CharField(
        required=False,
        label=_("At"),
        widget=LOCAL_INPUT,
        help_text=_("Leave empty with an end time to disable now (“off until”)."),
    )
    until = forms.CharField(
        required=False,
        label=_("Until (disable only)"),
        widget=LOCAL_INPUT,
        help_text=_("Enable it again at this time."),
    )
    reason = forms.CharField(
        required=False, max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = settings.CONSOLE_REQUIRE_REASON
        self.fields["reason"].label = (
            _("Reason") if settings.CONSOLE_REQUIRE_REASON else _("Reason (optional)")
        )

    def clean_at(self) -> datetime | None:
        return self._aware("at", required=False)

    def clean_until(self) -> datetime | None:
        return self._aware("until", required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "at" in data and "until" in data and data["at"] is None and data["until"] is None:
            self.add_error("at", _("Choose when the change should happen."))
        return data


class MoveForm(_ZonedForm):
    at = forms.CharField(label=_("New time"), widget=LOCAL_INPUT)

    def clean_at(self) -> datetime | None:
        return self._aware("at", required=True)


def local_input(value: datetime | None, zone) -> str:
    """A stored time as a datetime-local value in `zone`."""
    return timezone.localtime(value, zone).strftime("%Y-%m-%dT%H:%M") if value else ""
