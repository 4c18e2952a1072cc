"""Forms of change control's settings pages."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deployments_ui.changes.models import WEEKDAYS, FreezeWindow
from deployments_ui.core.vocabulary import LATEST_YEAR, TOO_LATE


class FreezeWindowForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("How often"),
        choices=[(key, _(label)) for key, label in FreezeWindow.Kind.choices],
        widget=forms.RadioSelect,
        initial=FreezeWindow.Kind.ONCE,
    )
    starts_at = forms.DateTimeField(
        label=_("Starts (once)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    ends_at = forms.DateTimeField(
        label=_("Ends (once)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    start_day = forms.TypedChoiceField(
        label=_("Starts on (weekly)"),
        choices=[(key, _(label)) for key, label in WEEKDAYS],
        coerce=int,
        initial=4,
        required=False,
    )
    start_time = forms.TimeField(
        label=_("Start time (weekly)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    end_day = forms.TypedChoiceField(
        label=_("Ends on (weekly)"),
        choices=[(key, _(label)) for key, label in WEEKDAYS],
        coerce=int,
        initial=0,
        required=False,
    )
    end_time = forms.TimeField(
        label=_("End time (weekly)"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    time_zone = forms.CharField(label=_("Time zone"), max_length=64)
    scope = forms.ChoiceField(
        label=_("Which environments"),
        choices=[(key, _(label)) for key, label in FreezeWindow.Scope.choices],
        widget=forms.RadioSelect,
        initial=FreezeWindow.Scope.LIVE,
    )
    environments = forms.MultipleChoiceField(
        label=_("Chosen environments"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(
        label=_("Description (a ticket number, say)"), max_length=255, required=False
    )

    def __init__(self, *args, environments=(), **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("time_zone", settings.TIME_ZONE)
        super().__init__(*args, **kwargs)
        self.environment_names = {env.id: env.name for env in environments}
        cast(forms.MultipleChoiceField, self.fields["environments"]).choices = [
            (env.id, f"{env.name} ({gettext(env.type)})" if env.type else env.name)
            for env in environments
        ]

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as bad:
            raise forms.ValidationError(
                _("Not a time zone the console knows; write it like Europe/London.")
            ) from bad
        return name

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        zone = zoneinfo.ZoneInfo(data["time_zone"])
        if data["kind"] == FreezeWindow.Kind.ONCE:
            for name in ("starts_at", "ends_at"):
                if not data.get(name):
                    self.add_error(name, _("Give the date and time."))
                elif data[name].year >= LATEST_YEAR:
                    self.add_error(name, TOO_LATE)
                    data[name] = None
                else:
                    data[name] = _in_zone(data[name], zone)
            if (
                data.get("starts_at")
                and data.get("ends_at")
                and data["ends_at"] <= data["starts_at"]
            ):
                self.add_error("ends_at", _("The end must come after the start."))
        else:
            for name in ("start_day", "start_time", "end_day", "end_time"):
                if data.get(name) in (None, ""):
                    self.add_error(name, _("Give the day and time."))
        if data.get("scope") == FreezeWindow.Scope.CHOSEN and not data.get("environments"):
            self.add_error("environments", _("Choose at least one environment."))
        return data

    def window(self) -> FreezeWindow:
        data = self.cleaned_data
        window = FreezeWindow(
            kind=data["kind"],
            time_zone=data["time_zone"],
            scope=data["scope"],
            description=data["description"],
        )
        if window.kind == FreezeWindow.Kind.ONCE:
            window.starts_at, window.ends_at = data["starts_at"], data["ends_at"]
        else:
            window.start_day, window.start_time = data["start_day"], data["start_time"]
            window.end_day, window.end_time = data["end_day"], data["end_time"]
        if window.scope == FreezeWindow.Scope.CHOSEN:
            window.environment_ids = list(data["environments"])
            window.environment_names = [
                self.environment_names.get(ident, ident) for ident in window.environment_ids
            ]
        return window


def _in_zone(value: datetime, zone) -> datetime:
    """The wall-clock time typed, read in the window's own time zone."""
    return value.replace(tzinfo=None).replace(tzinfo=zone)
