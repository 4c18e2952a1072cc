"""The form an Admin gives a person a scoped role with (views/people.py)."""

from __future__ import annotations

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from deployments_ui.accounts.models import RoleScope
from deployments_ui.accounts.scope_changes import Place
from deployments_ui.accounts.scopes import SCOPED_ROLES

ONE_ENVIRONMENT = "environment"
PLACE_CHOICES = [
    *((key, _(label)) for key, label in RoleScope.PlaceType.choices),
    (ONE_ENVIRONMENT, _("one environment (choose it)")),
]


class ScopeForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=[(role, role) for role in SCOPED_ROLES])
    place = forms.ChoiceField(label=_("Where"), choices=PLACE_CHOICES, widget=forms.RadioSelect)
    environment = forms.ChoiceField(label=_("Environment"), required=False, choices=[])
    flow = forms.ChoiceField(
        label=_("Only for this flow"),
        required=False,
        choices=[],
        help_text=_("Leave empty for all"),
    )

    def __init__(self, *args, environments=(), flows=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.environment_names = {str(e.id): e.name for e in environments}
        self.flow_names = {str(f.id): f.name for f in flows}
        environment = cast(forms.ChoiceField, self.fields["environment"])
        environment.choices = [("", "—"), *self.environment_names.items()]
        flow = cast(forms.ChoiceField, self.fields["flow"])
        flow.choices = [("", _("Every flow")), *self.flow_names.items()]

    def clean(self):
        data = super().clean() or {}
        if data.get("place") == ONE_ENVIRONMENT and not data.get("environment"):
            self.add_error("environment", _("Choose the environment."))
        return data

    def chosen_place(self) -> Place:
        data = self.cleaned_data
        flow = data.get("flow") or ""
        flow_part = {"flow_id": flow, "flow_name": self.flow_names.get(flow, "")}
        if data["place"] == ONE_ENVIRONMENT:
            environment = data["environment"]
            return Place(
                environment_id=environment,
                environment_name=self.environment_names.get(environment, ""),
                **flow_part,
            )
        return Place(environment_type=data["place"], **flow_part)
