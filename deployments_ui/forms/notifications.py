"""The forms for a person's notifications and an admin's webhooks (same filters on both)."""

from __future__ import annotations

from typing import cast

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_lazy as _lazy

from deployments_ui.accounts import crypto
from deployments_ui.audit.models import AuditEvent
from deployments_ui.drift.models import DeploymentSnapshot
from deployments_ui.notifications import delivery, events
from deployments_ui.notifications.models import Subscription, Webhook


def _lazy_format(text, **words):
    """A lazily translated text with its placeholders filled in when it is shown."""
    return lazy(lambda: str(text) % words, str)()


ENVIRONMENT_TYPES = [("live", _("Live")), ("test", _("Test"))]
FILTER_FIELDS = [
    "kinds",
    "environment_types",
    "environment_ids",
    "actions",
    "flow_name_contains",
    "only_problems",
]


def known_environments() -> list[tuple[str, str]]:
    """(id, name) of the environments the console has seen, by name."""
    seen: dict[str, str] = {}
    for state in DeploymentSnapshot.objects.values_list("state", flat=True):
        target = (state or {}).get("target", {}) if isinstance(state, dict) else {}
        if target.get("environment_id"):
            seen[str(target["environment_id"])] = target.get("environment_name") or ""
    rows = (
        AuditEvent.objects.filter(~Q(environment_id=""))
        .values_list("environment_id", "environment_name")
        .distinct()[:500]
    )
    for environment_id, name in rows:
        seen.setdefault(environment_id, name)
    choices = [(key, name or f"Environment {key}") for key, name in seen.items()]
    return sorted(choices, key=lambda item: item[1].casefold())


class FilterForm(forms.ModelForm):
    """The filters shared by subscriptions and webhooks. Nothing ticked in a group means "any"."""

    kinds = forms.MultipleChoiceField(
        label=_("What to hear about"),
        required=False,
        choices=[(key, _lazy(label)) for key, label in events.KINDS.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Nothing ticked: every change, made in the console or outside it. "
            "Change requests are announced once change control is in use."
        ),
    )
    environment_types = forms.MultipleChoiceField(
        label=_("Environment types"),
        required=False,
        choices=ENVIRONMENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nothing ticked: any type."),
    )
    environment_ids = forms.MultipleChoiceField(
        label=_("Only these environments"),
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nothing ticked: any environment."),
    )
    actions = forms.MultipleChoiceField(
        label=_("Actions"),
        required=False,
        choices=[(key, _lazy(label)) for key, label in AuditEvent.Action.choices],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nothing ticked: any action."),
    )
    flow_name_contains = forms.CharField(
        label=_("Flow name contains"), required=False, max_length=255
    )
    only_problems = forms.BooleanField(
        label=_("Only failures and unknown outcomes"), required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = known_environments()
        chosen = set(self.initial.get("environment_ids") or [])
        known = {key for key, _ in choices}
        choices += [(key, f"Environment {key}") for key in sorted(chosen - known)]
        cast(forms.ChoiceField, self.fields["environment_ids"]).choices = choices


class SubscriptionForm(FilterForm):
    frequency = forms.ChoiceField(
        label=_("Email me"),
        choices=[(key, _lazy(label)) for key, label in Subscription.Frequency.choices],
        widget=forms.RadioSelect,
        initial=Subscription.Frequency.IMMEDIATE,
    )

    class Meta:
        model = Subscription
        fields = ["name", "frequency", *FILTER_FIELDS]
        labels = {"name": _("Name")}
        help_texts = {"name": _("For you, e.g. “Live changes”.")}


class WebhookForm(FilterForm):
    url = forms.URLField(
        label=_("Address (URL)"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where events are posted, e.g. a Slack incoming webhook."),
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[(key, _lazy(label)) for key, label in Webhook.Format.choices],
        widget=forms.RadioSelect,
    )
    token = forms.CharField(
        label=_("Bearer token (optional)"),
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "For Grafana: a service account token that may write annotations. Sent as "
            "“Authorization: Bearer …”, stored encrypted and never shown again. Leave empty to "
            "keep the saved one."
        ),
    )
    remove_token = forms.BooleanField(label=_("Remove the saved bearer token"), required=False)

    class Meta:
        model = Webhook
        fields = ["name", "url", "format", "token", "remove_token", "is_active", *FILTER_FIELDS]
        labels = {"name": _("Name"), "is_active": _("Active")}
        help_texts = {"is_active": _("Untick to stop sending without deleting the webhook.")}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.encrypted_token:
            del self.fields["remove_token"]
        if self.instance.pk:
            # The saved address may carry a secret (Slack's do): never sent back to the page.
            self.initial["url"] = ""
            self.fields["url"].required = False
            self.fields["url"].help_text = _lazy_format(
                _("Leave empty to keep the saved address (%(address)s)."),
                address=self.instance.shown_url,
            )

    def save(self, commit: bool = True) -> Webhook:
        webhook = super().save(commit=False)
        if self.cleaned_data.get("token"):
            webhook.encrypted_token = crypto.encrypt(self.cleaned_data["token"])
        elif self.cleaned_data.get("remove_token"):
            webhook.encrypted_token = ""
        if commit:
            webhook.save()
        return webhook

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url and self.instance.pk:
            return self.instance.url
        try:
            target = delivery.check_url(url)
        except delivery.DeliveryRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE:
            try:
                refusal = delivery.address_refusal(target.host.strip("[]"))
            except ValueError:
                refusal = None  # a host name: checked when it is resolved, at each delivery
            if refusal:
                raise forms.ValidationError(
                    _("Webhooks may not reach %(where)s."), params={"where": refusal}
                )
        return url
