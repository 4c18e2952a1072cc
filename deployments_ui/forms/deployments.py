"""Forms for the deployment pages: the list's filters, create, edit, delete and enable/disable."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core import signing
from django.forms.utils import flatatt
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deployments_ui.core.vocabulary import PRIORITY_LABELS
from deployments_ui.deployments.reads import DeploymentQuery, Pickers
from deployments_ui.patchworks import GLOBAL_ENVIRONMENT_NAME, SORT_KEYS, Filter

GLOBAL_ENVIRONMENT = "global"
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
ENVIRONMENT_TYPES = {"live": "Every live environment", "test": "Every test environment"}
PRIORITY_CHOICES = [("", "Inherit from the flow")] + [
    (str(priority), _(label)) for priority, label in PRIORITY_LABELS.items()
]
# The list's filter fields, and the Patchworks filter each one sets.
# The filters sent to Patchworks as typed or chosen (environments are worked out: see to_query).
TEXT_FILTERS = {
    "package": Filter.PACKAGE,
    "flow": Filter.FLOW,
    "name": Filter.NAME,
    "q": Filter.SEARCH,
}
# A deployment list's filter and sort parameters (not its paging): what "select all that match"
# carries into a bulk job.
LIST_FILTER_PARAMETERS = ("q", "environment", "package", "flow", "name", "scope", "sort")
# Patchworks' field names, mapped to the form fields that show their errors.
API_FIELD_TO_FORM_FIELD = {
    "virtual_environment_id": "environment",
    "priority": "priority",
    "enabled_at": "enabled_at",
    "deploy_disabled": "deploy_disabled",
}
OPENED_VALUES_SALT = "deployments_ui.edit.opened"


class QuickSelect(forms.Select):
    """A <select> rendered in Python: Django renders each option through a template of its own,
    which for the list's pickers (every environment, package and flow) was a large share of
    the page's rendering time."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = set(self.format_value(value))
        final_attrs = {**self.build_attrs(self.attrs, attrs), "name": name}
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (choice, " selected" if str(choice) in selected else "", label)
                for choice, label in self.choices
            ),
        )
        return format_html("<select{}>{}</select>", flatatt(final_attrs), options)


class QuickSelectMultiple(QuickSelect):
    """QuickSelect that lets several options be chosen (a plain <select multiple>: no script
    needed; hold Ctrl or Cmd to choose more than one)."""

    allow_multiple_selected = True

    def render(self, name, value, attrs=None, renderer=None):
        return super().render(name, value, {**(attrs or {}), "multiple": True}, renderer)


def environment_label(environment) -> str:
    return f"{environment.name} ({environment.type})" if environment.type else environment.name


def _choices(items, label=lambda item: item.name) -> list[tuple[str, str]]:
    return [(item.id, label(item)) for item in sorted(items, key=lambda item: item.name.lower())]


class DeploymentFilterForm(forms.Form):
    """The list's filters, sort and paging. Every value lives in the URL."""

    q = forms.CharField(
        required=False,
        label=_("Search flow names"),
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("e.g. Shopify")}),
    )
    environment = forms.MultipleChoiceField(
        required=False,
        label=_("Environments"),
        widget=QuickSelectMultiple(attrs={"size": 4}),
        help_text=_("Choose one or several (Ctrl or Cmd and click)."),
    )
    package = forms.ChoiceField(required=False, label=_("Package"), widget=QuickSelect)
    flow = forms.ChoiceField(required=False, label=_("Flow"), widget=QuickSelect)
    name = forms.CharField(required=False, label=_("Exact flow name"), max_length=200)
    scope = forms.ChoiceField(
        required=False,
        label=_("Where it runs"),
        choices=[
            ("", _("Show all")),
            ("yes", _("Only those in all environments")),
            ("no", _("Only those in one environment")),
        ],
        widget=QuickSelect,
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("", _("Newest first"))]
        + [(key, key) for key in SORT_KEYS]
        + [(f"-{key}", f"-{key}") for key in SORT_KEYS],
        widget=forms.HiddenInput,
    )
    per_page = forms.TypedChoiceField(
        required=False,
        label=_("Rows per page"),
        coerce=int,
        choices=[(size, str(size)) for size in PAGE_SIZES],
        empty_value=DEFAULT_PAGE_SIZE,  # type: ignore[arg-type]  # the stubs say str; any value works
        widget=QuickSelect,
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    field_order = ["q", "environment", "package", "flow", "scope", "name", "per_page"]

    def __init__(self, data, *, pickers: Pickers | None) -> None:
        data = data.copy()
        data.setdefault("per_page", str(DEFAULT_PAGE_SIZE))
        super().__init__(data)
        pickers = pickers or Pickers([], [], [])
        self.environment_ids_by_type: dict[str, list[str]] = {}
        for environment in pickers.environments:
            if environment.type in ENVIRONMENT_TYPES:
                self.environment_ids_by_type.setdefault(environment.type, []).append(environment.id)
        cast(forms.MultipleChoiceField, self.fields["environment"]).choices = [
            (kind, label)
            for kind, label in ENVIRONMENT_TYPES.items()
            if kind in self.environment_ids_by_type
        ] + _choices(pickers.environments, environment_label)
        cast(forms.ChoiceField, self.fields["package"]).choices = [
            ("", gettext("Any package"))
        ] + _choices(pickers.packages)
        cast(forms.ChoiceField, self.fields["flow"]).choices = [
            ("", gettext("Any flow"))
        ] + _choices(pickers.flows)

    def to_query(self) -> DeploymentQuery:
        """The API query for the valid part of the form; invalid fields are left out."""
        values = self.cleaned_data if self.is_bound else {}
        filters: dict[str, str] = {}
        for field_name, api_name in TEXT_FILTERS.items():
            if values.get(field_name):
                filters[api_name] = values[field_name].strip()
        environments: list[str] = []
        for chosen in values.get("environment") or []:
            # "live" and "test" stand for every environment of that type.
            for environment_id in self.environment_ids_by_type.get(chosen, [chosen]):
                if environment_id and environment_id not in environments:
                    environments.append(environment_id)
        if environments:
            # A comma list means "any of" to Patchworks.
            filters[Filter.ENVIRONMENT] = ",".join(environments)
        if values.get("scope"):
            filters[Filter.GLOBAL] = "1" if values["scope"] == "yes" else "0"
        return DeploymentQuery(
            filters=filters,
            sort=values.get("sort") or None,
            page=values.get("page") or 1,
            per_page=values.get("per_page") or DEFAULT_PAGE_SIZE,
        )


class ToggleForm(forms.Form):
    """Enable or disable: the optional (or required, by setting) reason."""

    reason = forms.CharField(
        required=False,
        max_length=500,
        label=_("Reason"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = settings.CONSOLE_REQUIRE_REASON
        if not settings.CONSOLE_REQUIRE_REASON:
            self.fields["reason"].label = _("Reason (optional)")


class _DeploymentFieldsForm(forms.Form):
    environment = forms.ChoiceField(label=_("Environment"), widget=QuickSelect)
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        required=False,
        choices=PRIORITY_CHOICES,
        coerce=int,
        empty_value=None,
        help_text=_("Where its runs go in the queue. 1 runs first; 3 is normal."),
    )
    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=500,
        help_text=_("Kept in the audit log."),
    )

    def __init__(self, *args, environments=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["environment"]).choices = [
            (GLOBAL_ENVIRONMENT, GLOBAL_ENVIRONMENT_NAME)
        ] + _choices(environments, environment_label)

    def environment_id(self) -> str | None:
        value = self.cleaned_data["environment"]
        return None if value == GLOBAL_ENVIRONMENT else value

    def add_upstream_errors(self, field_errors: dict[str, list[str]]) -> None:
        """Show Patchworks' validation errors against the fields they belong to."""
        for api_field, messages in field_errors.items():
            form_field = API_FIELD_TO_FORM_FIELD.get(api_field)
            for message in messages:
                self.add_error(form_field if form_field in self.fields else None, message)


class DeploymentCreateForm(_DeploymentFieldsForm):
    deploy_disabled = forms.BooleanField(
        label=_("Create it disabled (it will not run until someone enables it)"), required=False
    )
    field_order = ["environment", "priority", "deploy_disabled", "reason"]


class DeploymentEditForm(_DeploymentFieldsForm):
    enabled_at = forms.DateTimeField(
        label=_("Enabled at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("When it was switched on. Leave empty to leave it switched off."),
    )
    deploy_disabled = forms.BooleanField(
        label=_("Disable it (it will stop running)"), required=False
    )
    opened = forms.CharField(widget=forms.HiddenInput)
    field_order = ["environment", "priority", "enabled_at", "deploy_disabled", "reason"]

    def opened_values(self) -> dict[str, Any] | None:
        """The deployment's values when the form was first shown; None if tampered with."""
        try:
            return signing.loads(self.cleaned_data["opened"], salt=OPENED_VALUES_SALT)
        except signing.BadSignature:
            return None

    def changes(self, opened: dict[str, Any]) -> dict[str, Any]:
        """Only what the person changed, in the API's field names."""
        wanted = {
            "virtual_environment_id": self.environment_id(),
            "priority": self.cleaned_data["priority"],
        }
        changes = {name: value for name, value in wanted.items() if opened.get(name) != value}
        enabled_at = self.cleaned_data["enabled_at"]
        opened_enabled_at = opened.get("enabled_at")
        if _minute(enabled_at) != _minute_of_iso(opened_enabled_at):
            changes["enabled_at"] = enabled_at
        if self.cleaned_data["deploy_disabled"]:
            changes["deploy_disabled"] = True
        return changes


def sign_opened_values(values: dict[str, Any]) -> str:
    return signing.dumps(values, salt=OPENED_VALUES_SALT)


def _minute(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M%z") if value else None


def _minute_of_iso(value: str | None) -> str | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    return _minute(localtime(parsed)) if parsed else None
