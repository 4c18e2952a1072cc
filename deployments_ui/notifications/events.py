"""Which audit events are worth telling anyone about, which filters they pass, and what is sent.

Events come in kinds. The audit trail's fan-out gives `change` (made through the console or its
worker) and `drift` (seen outside the console). Other rooms may notify their own kinds through
`outbox.notify(event, kind=..., audience=...)`: `request-for-me` is reserved for change requests
waiting for someone's approval, where `audience` names the people asked to approve.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.audit.wording import SETTINGS_ACTIONS

KIND_CHANGE = "change"
KIND_DRIFT = "drift"
KIND_REQUEST_FOR_ME = "request-for-me"
KIND_MY_REQUEST = "my-request"
KIND_STARTED_FAILING = "started-failing"
KIND_STOPPED_RUNNING = "stopped-running"
KINDS = {
    KIND_CHANGE: "Changes made in the console (and by its schedules)",
    KIND_DRIFT: "Changes made outside the console",
    KIND_REQUEST_FOR_ME: "Change requests waiting for my approval",
    KIND_MY_REQUEST: "My change requests that missed their time",
    KIND_STARTED_FAILING: "A live deployment started failing",
    KIND_STOPPED_RUNNING: "A live deployment stopped running",
}
# Told only to those who ask for them by name, never to "anything".
ASKED_BY_NAME = frozenset(
    {KIND_REQUEST_FOR_ME, KIND_MY_REQUEST, KIND_STARTED_FAILING, KIND_STOPPED_RUNNING}
)
PROBLEM_OUTCOMES = frozenset({AuditEvent.Outcome.FAILED, AuditEvent.Outcome.UNKNOWN})
# An attempt is told once it has an outcome; refusals are the console saying no (403s included),
# which the audit log shows but nobody is paged for.
QUIET_OUTCOMES = frozenset({AuditEvent.Outcome.PENDING, AuditEvent.Outcome.REFUSED})
GRAFANA = "grafana"
GRAFANA_TAG = "deployments-console"
# Events about people and the console's settings, not deployments: dashboards do not mark
# them, and only those who may see them in the audit log are told of them.
ABOUT_PEOPLE_AND_SETTINGS = frozenset({*ACCOUNT_ACTIONS, *SETTINGS_ACTIONS})


def kind_of(event: AuditEvent) -> str | None:
    """The kind of an appended audit event, or None when it is not worth telling."""
    if event.outcome in QUIET_OUTCOMES:
        return None
    return KIND_DRIFT if event.source == AuditEvent.Source.PATCHWORKS else KIND_CHANGE


def matches(rule, event: AuditEvent, kind: str) -> bool:
    """Whether a Subscription or Webhook's filters let this event through."""
    if rule.kinds and kind not in rule.kinds:
        return False
    if not rule.kinds and kind in ASKED_BY_NAME:
        return False  # asked for explicitly, never by "anything"
    if getattr(rule, "format", "") == GRAFANA and event.action in ABOUT_PEOPLE_AND_SETTINGS:
        return False
    if rule.environment_types and event.environment_type not in rule.environment_types:
        return False
    if rule.environment_ids and event.environment_id not in rule.environment_ids:
        return False
    if rule.actions and event.action not in rule.actions:
        return False
    needle = rule.flow_name_contains.strip().casefold()
    if needle and needle not in (event.flow_name or "").casefold():
        return False
    return not (rule.only_problems and event.outcome not in PROBLEM_OUTCOMES)


def sentence(event: AuditEvent) -> str:
    """The event's sentence as sent: in the console's own language, whoever's request sends it."""
    from deployments_ui.audit import describe

    with translation.override(settings.LANGUAGE_CODE):
        return describe(event)


def audit_link(event: AuditEvent) -> str:
    """A link to the event in the audit log, when the console knows its own address."""
    if not settings.CONSOLE_BASE_URL:
        return ""
    query = f"?deployment={event.deployment_id}" if event.deployment_id else ""
    return f"{settings.CONSOLE_BASE_URL}{reverse('audit-log')}{query}"


def event_data(event: AuditEvent, kind: str) -> dict[str, Any]:
    """The generic JSON payload: the event as the audit trail has it, plus its sentence."""
    return {
        "id": event.pk,
        "type": f"deployment.{event.action}",
        "kind": kind,
        "occurred_at": event.occurred_at.isoformat(),
        "summary": sentence(event),
        "action": event.action,
        "outcome": event.outcome,
        "source": event.source,
        "actor": event.actor_name or event.actor_username or None,
        "deployment": {
            "id": event.deployment_id or None,
            "flow_version_id": event.flow_version_id or None,
            "flow_id": event.flow_id or None,
            "flow_name": event.flow_name or None,
            "environment_id": event.environment_id or None,
            "environment_name": event.environment_name or None,
            "environment_type": event.environment_type or None,
        },
        "reason": event.reason or None,
        "message": event.message or None,
        "before": event.before,
        "after": event.after,
        "link": audit_link(event) or None,
    }


def health_data(message: str, kind: str, event: AuditEvent | None, at: datetime) -> dict[str, Any]:
    """The JSON payload of a flow-health message: its words, and the last change it names (the
    deployment's audit event, when the trail has one)."""
    data = event_data(event, kind) if event else {"id": None, "type": "", "deployment": None}
    return {
        "id": None,
        "type": f"deployment.{kind}",
        "kind": kind,
        "occurred_at": at.isoformat(),
        "summary": message,
        "deployment": data["deployment"],
        "last_change": data if event else None,
        "link": data.get("link"),
    }


def test_data() -> dict[str, Any]:
    return {
        "id": None,
        "type": "test",
        "kind": "test",
        "occurred_at": timezone.now().isoformat(),
        "summary": "A test from the Deployments Console: this webhook works.",
    }


def body_for(webhook_format: str, data: dict[str, Any]) -> bytes:
    """The bytes posted: Slack's text and blocks, or the generic JSON."""
    if webhook_format == "slack":
        data = slack_message(data)
    elif webhook_format == GRAFANA:
        data = grafana_annotation(data)
    return json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True).encode()


def slack_message(data: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message readable in a channel (Slack, and Mattermost or Teams
    workflows that accept Slack's format)."""
    summary = _slack_escape(data["summary"])
    context = [f"Deployments Console · {data['occurred_at'][:19].replace('T', ' ')} UTC"]
    if data.get("id"):
        context.append(f"event {data['id']}")
    if data.get("link"):
        context.append(f"<{data['link']}|open in the audit log>")
    return {
        "text": summary,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


def grafana_annotation(data: dict[str, Any]) -> dict[str, Any]:
    """A Grafana annotation (POST /api/annotations): `time` in epoch milliseconds, `tags`, `text`.

    A change is marked when it happened. A schedule asked for (or moved) marks the planned
    moment instead, and an "off until" its whole planned span (`timeEnd`), tagged `planned`;
    cancelling it is marked in turn, when it happens.
    """
    after: dict[str, Any] = data["after"] if isinstance(data.get("after"), dict) else {}
    deployment: dict[str, Any] = data.get("deployment") or {}
    tags = [GRAFANA_TAG, str(data.get("action") or data.get("type") or "event")]
    if data.get("source") == AuditEvent.Source.PATCHWORKS:
        tags.append("outside-console")
    for name in ("environment_type", "environment_name", "flow_name"):
        if deployment.get(name):
            tags.append(str(deployment[name]))
    annotation: dict[str, Any] = {"time": _epoch_ms(data["occurred_at"])}
    planned = data.get("action") in ("schedule", "reschedule") and after.get("due_at")
    if planned:
        annotation["time"] = _epoch_ms(after["due_at"])
        tags.append("planned")
        if after.get("until"):
            annotation["timeEnd"] = _epoch_ms(after["until"])
    text = ("Planned: " if planned else "") + str(data["summary"])
    if data.get("link"):
        text += f"\n{data['link']}"
    annotation.update({"tags": tags, "text": text})
    return annotation


def _epoch_ms(value: str | datetime) -> int:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return int(moment.timestamp() * 1000)


def _slack_escape(text: str) -> str:
    """Slack's control characters escaped, so that names and reasons can never become links or
    mentions (`<!channel>`, `<@U123>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def filters_summary(rule) -> str:
    """The filters in plain words, e.g. "Changes made outside the console · live · disabled"."""
    parts = [gettext(KINDS[kind]).split(" (")[0] for kind in rule.kinds if kind in KINDS]
    types = rule.environment_types
    if types:
        kinds = gettext(" or ").join(gettext(kind) for kind in types)
        parts.append(gettext("%(kinds)s environments") % {"kinds": kinds})
    if rule.environment_ids:
        count = len(rule.environment_ids)
        words = ngettext("%(count)d chosen environment", "%(count)d chosen environments", count)
        parts.append(words % {"count": count})
    if rule.actions:
        labels = dict(AuditEvent.Action.choices)
        parts.append(", ".join(gettext(labels.get(action, action)) for action in rule.actions))
    if rule.flow_name_contains:
        parts.append(gettext("flows named “…%(name)s…”") % {"name": rule.flow_name_contains})
    if rule.only_problems:
        parts.append(gettext("only failures and unknown outcomes"))
    return " · ".join(parts) or gettext("Every change")
