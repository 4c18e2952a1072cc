"""Making a personal API token: its name, how long it lasts, and what it may do."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from deployments_ui.tokens.models import ApiToken

DEFAULT_DAYS = 90


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="What the script does, e.g. nightly maintenance. It appears in the audit log.",
        error_messages={"required": "Give the token a name, e.g. what the script does."},
    )
    expires_on = forms.DateField(
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The token stops working at the start of this day.",
        error_messages={"required": "Choose when the token stops working."},
    )
    scope = forms.ChoiceField(
        label="What it may do",
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.ROLE,
        widget=forms.RadioSelect,
        help_text="Never more than your role allows.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["expires_on"].initial = today + timedelta(days=DEFAULT_DAYS)
        self.fields["expires_on"].widget.attrs.update(
            min=str(today + timedelta(days=1)),
            max=str(today + timedelta(days=settings.CONSOLE_API_TOKEN_MAX_DAYS)),
        )

    def expires_at(self) -> datetime:
        """The start of the chosen day, in the person's time zone."""
        day = self.cleaned_data["expires_on"]
        return timezone.make_aware(datetime.combine(day, time.min))
