"""Making a personal API token: its name, how long it lasts, and what it may do."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from deployments_ui.tokens.models import ApiToken

DEFAULT_DAYS = 90


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label=_("Name"),
        help_text=_("What the script does, e.g. nightly maintenance. It appears in the audit log."),
        error_messages={"required": _("Give the token a name, e.g. what the script does.")},
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The token stops working at the start of this day."),
        error_messages={"required": _("Choose when the token stops working.")},
    )
    scope = forms.ChoiceField(
        label=_("What it may do"),
        choices=[(key, _(label)) for key, label in ApiToken.Scope.choices],
        initial=ApiToken.Scope.ROLE,
        widget=forms.RadioSelect,
        help_text=_("Never more than your role allows."),
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
