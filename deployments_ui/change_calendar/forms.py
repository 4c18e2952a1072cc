"""The calendar's filters and where it stands (view and date), read from the query string."""

from __future__ import annotations

import datetime as dt
from typing import cast
from urllib.parse import urlencode

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deployments_ui.change_calendar import services
from deployments_ui.change_calendar.services import Filters

EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 1)
VIEW_CHOICES = [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))]
FILTER_NAMES = ("environment", "flow", "person", "type")


class CalendarForm(forms.Form):
    """View, date and filters; anything not understood falls back to its default."""

    view = forms.ChoiceField(required=False, choices=VIEW_CHOICES, widget=forms.HiddenInput)
    date = forms.DateField(
        required=False,
        widget=forms.HiddenInput,
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    environment = forms.ChoiceField(required=False, label=_("Environment"), choices=[])
    flow = forms.CharField(required=False, max_length=255, label=_("Flow name contains"))
    person = forms.CharField(
        required=False, max_length=150, label=_("Person"), help_text=_("Name or username")
    )
    type = forms.MultipleChoiceField(
        required=False,
        label=_("Show"),
        choices=[(key, _(label)) for key, label in services.KINDS.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nothing ticked: everything."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            ("", gettext("Any environment")),
            ("live", gettext("Every live environment")),
            ("test", gettext("Every test environment")),
        ]
        choices += [
            (item.id, f"{item.name} ({gettext(item.type)})" if item.type else item.name)
            for item in services.known_environments()
        ]
        cast(forms.ChoiceField, self.fields["environment"]).choices = choices

    def _clean(self) -> dict:
        self.is_valid()
        return getattr(self, "cleaned_data", {})

    @property
    def view_name(self) -> str:
        return self._clean().get("view") or "week"

    @property
    def day(self) -> dt.date:
        return self._clean().get("date") or timezone.localdate()

    def filters(self) -> Filters:
        data = self._clean()
        return Filters(
            environment=data.get("environment") or "",
            flow=(data.get("flow") or "").strip(),
            person=(data.get("person") or "").strip(),
            kinds=tuple(data.get("type") or ()),
        )

    def filter_query(self) -> str:
        """The understood filters as a query string (for a feed link, and in words)."""
        data = self._clean()
        pairs: list[tuple[str, str]] = []
        for name in FILTER_NAMES:
            value = data.get(name)
            if isinstance(value, list):
                pairs += [(name, item) for item in value]
            elif value:
                pairs.append((name, str(value).strip()))
        return urlencode(pairs)

    def filters_text(self) -> str:
        """The filters in plain words: "Scheduled changes · UK Live (live)", or "Everything"."""
        data = self._clean()
        parts = [gettext(services.KINDS[kind]) for kind in data.get("type") or ()]
        if data.get("environment"):
            labels = dict(self.fields["environment"].choices)  # type: ignore[attr-defined]
            parts.append(str(labels.get(data["environment"], data["environment"])))
        if data.get("flow"):
            parts.append(gettext("flows named “…%(name)s…”") % {"name": data["flow"].strip()})
        if data.get("person"):
            parts.append(gettext("people matching “%(name)s”") % {"name": data["person"].strip()})
        return " · ".join(parts) or gettext("Everything")

    @property
    def active_count(self) -> int:
        data = self._clean()
        # Each ticked kind counts, as console.js counts them while the form is changed.
        values = [data.get(name) for name in FILTER_NAMES]
        return sum(len(value) if isinstance(value, list) else 1 for value in values if value)

    @property
    def invalid(self) -> list[str]:
        self.is_valid()
        return [str(self[name].label or name) for name in self.errors]
