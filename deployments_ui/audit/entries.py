"""Reading the audit trail: rows merged into entries and told as one plain sentence each.

An entry is what a person sees as one event: a console attempt together with its outcome
row, a refusal, or a change seen in Patchworks. `deployments_ui.audit` re-exports the names
the rest of the console uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format

from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import GLOBAL_ENVIRONMENT_NAME
from deployments_ui.vocabulary import INHERITED_PRIORITY

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

UNKNOWN_ACTOR = "someone in Patchworks (unknown)"
NO_OUTCOME = "no outcome recorded (the console stopped before Patchworks answered)"
BASE_VERBS = {
    "create": "create",
    "update": "change",
    "delete": "delete",
    "enable": "enable",
    "disable": "disable",
    "schedule": "schedule a change to",
    "reschedule": "move a scheduled change to",
    "unschedule": "cancel a scheduled change to",
    "bulk": "start a bulk change to",
}
# Things done inside the console alone: one row each, told without an outcome.
LOCAL_PHRASES = {
    "schedule": "scheduled a change to",
    "reschedule": "moved a scheduled change to",
    "unschedule": "cancelled a scheduled change to",
    "bulk": "started a bulk change to",
}
STATE_LABELS = {
    "enabled": "State",
    "enabled_at": "Enabled at",
    "enabled_by": "Enabled by",
    "priority": "Priority",
    "environment_name": "Environment",
    "environment_type": "Environment type",
    "virtual_environment_id": "Environment id",
    "flow_version_id": "Flow version id",
    "flow_version_iteration": "Version",
    "deployment_id": "Deployment id",
    "change": "Change asked for",
    "change_request": "Change request",
}
# Steps of change control: single rows whose sentence names the change request.
CONTROL_ACTIONS = frozenset(
    {
        "request",
        "request_edit",
        "approve",
        "decline",
        "expire",
        "break_glass",
        "freeze_override",
        "control_settings",
    }
)
KEEP_CAPITALISED = {"Patchworks", "I"}
# Events about people rather than deployments, and the details only Admins may see.
ACCOUNT_ACTIONS = frozenset(
    {
        "sign_in_failed",
        "locked_out",
        "unlocked",
        "sso_refused",
        "sso_linked",
        "roles_changed",
        "api_key_saved",
        "api_key_removed",
        "feed_made",
        "feed_revoked",
    }
)
PERSONAL_DETAILS = frozenset({"IP address", "Browser (user agent)"})
SIGN_IN_METHODS = {
    "password": "password",
    "sso": "single sign-on",
    "system": "background job",
    "schedule": "a scheduled change, applied by the background worker",
    "bulk": "a bulk job, run by the background worker",
}


@dataclass(frozen=True)
class AuditEntry:
    """One event as a person sees it: attempt and outcome, a refusal, or an outside change."""

    id: int
    occurred_at: datetime
    source: str
    action: str
    verb: str
    actor: str
    deployment_id: str
    flow_version_id: str
    deployment_label: str
    place: str
    reason: str
    outcome: str
    outcome_text: str
    message: str
    upstream_status: int | None
    completed_at: datetime | None
    event_ids: tuple[int, ...]
    details: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    values_title: str = ""
    # Circumstances of an attempt, e.g. how late a scheduled change ran.
    note: str = ""
    # For change-control steps: the change asked for and the request's number.
    change: str = ""
    change_request: int | None = None

    @property
    def is_control(self) -> bool:
        return self.action in CONTROL_ACTIONS

    @property
    def is_break_glass(self) -> bool:
        return self.action == "break_glass" or "break glass:" in self.reason

    summary: str = ""

    @property
    def sentence(self) -> str:
        return describe(self)

    @property
    def is_external(self) -> bool:
        return self.source == AuditEvent.Source.PATCHWORKS


class _FinalOutcome(TypedDict):
    final_outcome: Any


def entry_queryset() -> QuerySet[WithAnnotations[AuditEvent, _FinalOutcome]]:
    """Attempts, refusals and external events (not outcome rows), with their final outcome.

    `final_outcome` is the outcome row's outcome for an attempt that has one, else the row's
    own (`pending` for an attempt that never got an answer).
    """
    result = AuditEvent.objects.filter(completes=OuterRef("pk")).order_by("id").values("outcome")
    return (
        AuditEvent.objects.filter(completes__isnull=True)
        .annotate(final_outcome=Coalesce(Subquery(result[:1]), F("outcome")))
        .prefetch_related("results")
        .order_by("-occurred_at", "-id")
    )


_Events = TypeVar("_Events", bound=QuerySet[Any])


def for_deployment(queryset: _Events, deployment_id: str) -> _Events:
    """Entries about one deployment, including the create that produced it."""
    created = AuditEvent.objects.filter(deployment_id=deployment_id, completes__isnull=False)
    return queryset.filter(
        Q(deployment_id=deployment_id) | Q(pk__in=created.values("completes_id"))
    )


def deployment_history(
    deployment_id: str, *, limit: int = 50, personal: bool = False
) -> list[AuditEntry]:
    """This deployment's console events and external changes, newest first.

    `personal`: include people's IP addresses and browsers (for those who may see everything).
    """
    rows = for_deployment(entry_queryset(), str(deployment_id))[:limit]
    return [entry_from_event(row, personal=personal) for row in rows]


def entry_from_event(event: AuditEvent, *, personal: bool = True) -> AuditEntry:
    """Merge an attempt (or a single-row event) with its outcome row into an AuditEntry.

    Without `personal`, the IP address and browser are left out of the details.
    """
    if event.completes_id is not None and event.completes is not None:
        event = event.completes
    results = sorted(event.results.all(), key=lambda row: row.pk)
    result = results[0] if results else None
    final = result or event
    state = final.after if isinstance(final.after, dict) else event.before
    outcome = _outcome_code(event, result)
    entry_data: dict[str, Any] = {
        "id": event.pk,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "action": event.action,
        "verb": event.get_action_display(),
        "actor": actor_display(event),
        "deployment_id": final.deployment_id or event.deployment_id,
        "flow_version_id": event.flow_version_id,
        "deployment_label": _label(final, state, inline=False),
        "place": _label(final, state, inline=True),
        "reason": event.reason,
        "outcome": outcome,
        "outcome_text": _outcome_text(event, result),
        "message": final.message,
        "upstream_status": final.upstream_status,
        "completed_at": result.occurred_at if result else None,
        "event_ids": tuple(row.pk for row in [event, *results]),
        "note": event.message if event.outcome == AuditEvent.Outcome.PENDING else "",
    }
    entry_data.update(_recorded_values(event, final))
    if event.action in CONTROL_ACTIONS and isinstance(event.after, dict):
        entry_data["change"] = str(event.after.get("change", ""))
        entry_data["change_request"] = event.after.get("change_request")
    details = _details(event, result, entry_data)
    if not personal:
        details = [(label, value) for label, value in details if label not in PERSONAL_DETAILS]
    return AuditEntry(**entry_data, details=details, summary=_account_sentence(event))


def describe(entry: AuditEntry | AuditEvent) -> str:
    """The one plain sentence for an event, e.g.

    "Ann Smith disabled Orders → Shopify v3 in UK Live (live) — reason: supplier outage —
    failed: Patchworks did not answer".
    """
    if isinstance(entry, AuditEvent):
        entry = entry_from_event(entry)
    if entry.summary:
        return entry.summary
    if entry.action in LOCAL_PHRASES and entry.outcome == AuditEvent.Outcome.SUCCEEDED:
        sentence = f"{entry.actor} {LOCAL_PHRASES[entry.action]} {entry.place}"
        if entry.message:
            sentence += f": {entry.message}"
        if entry.reason:
            sentence += f" — reason: {entry.reason}"
        return sentence[:1].upper() + sentence[1:]
    if entry.action in CONTROL_ACTIONS and entry.outcome != AuditEvent.Outcome.REFUSED:
        return _describe_control(entry)
    if entry.outcome == AuditEvent.Outcome.REFUSED:
        doing = f"tried to {BASE_VERBS.get(entry.action, entry.action)}"
    else:
        doing = entry.verb
    parts = [f"{entry.actor} {doing} {entry.place}{_change_summary(entry)}"]
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    parts.append(entry.outcome_text)
    parts.append(entry.note)
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _describe_control(entry: AuditEntry) -> str:
    """'Bob Approver approved change request 4 to disable Orders v3 in UK Live (live)'."""
    change = BASE_VERBS.get(entry.change, entry.change or "change")
    number = f"change request {entry.change_request}" if entry.change_request else ""
    request = f"{number} to {change} {entry.place}"
    sentences = {
        "request": f"{entry.actor} asked for approval to {change} {entry.place}"
        + (f" ({number})" if number else ""),
        "request_edit": f"{entry.actor} edited {request}; its approvals were reset",
        "approve": f"{entry.actor} approved {request}",
        "decline": f"{entry.actor} declined {request}",
        "expire": f"{request[:1].upper()}{request[1:]} expired",
        "break_glass": f"{entry.actor} applied {request} without approval (break glass)",
        "freeze_override": f"{entry.actor} overrode a freeze window to {change} {entry.place}"
        + (f" ({number})" if number else ""),
        "control_settings": f"{entry.actor} changed change control",
    }
    parts = [sentences.get(entry.action, f"{entry.actor} {entry.verb} {entry.place}")]
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    if entry.message and entry.action in ("control_settings", "approve", "expire"):
        parts.append(_sentence_part(entry.message))
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _account_sentence(event: AuditEvent) -> str:
    """The plain sentence for an event about a person's account; "" for other events."""
    if event.action not in ACCOUNT_ACTIONS:
        return ""
    after = event.after if isinstance(event.after, dict) else {}
    before = event.before if isinstance(event.before, dict) else {}
    account = after.get("account") or "an unknown account"
    actor = actor_display(event)
    message = _sentence_part(event.message)
    own = account == event.actor_username
    if event.action == "sign_in_failed":
        sentence = f"Failed sign-in as {account}"
        return f"{sentence}: {message}" if message else sentence
    if event.action == "locked_out":
        return f"Sign-in as {account} paused: {message}"
    if event.action == "unlocked":
        if event.user_id:
            return f"{actor} unlocked sign-in as {account}"
        return f"Sign-in as {account} unlocked: {message}"
    if event.action == "sso_refused":
        return f"Single sign-on as {account} refused: {message}"
    if event.action == "sso_linked":
        return f"{actor} linked single sign-on identity {after.get('identity', '')} to {account}"
    if event.action == "roles_changed":
        old = ", ".join(before.get("roles") or []) or "no role"
        new = ", ".join(after.get("roles") or []) or "no role"
        sentence = f"{actor} changed the roles of {account} from {old} to {new}"
        return f"{sentence} — {message}" if message else sentence
    if event.action in ("feed_made", "feed_revoked"):
        made = event.action == "feed_made"
        what = "made a calendar feed link" if made else "revoked the calendar feed link"
        showing = after.get("filters") if made else ""
        sentence = f"{actor} {what}" + ("" if own else f" of {account}")
        return f"{sentence} showing {showing}" if showing and showing != "Everything" else sentence
    if after.get("key") == "service":
        what = "the service key"
    else:
        what = "their Patchworks API key" if own else f"the Patchworks API key of {account}"
    if event.action == "api_key_saved":
        ending = f" (ending {after['ending']})" if after.get("ending") else ""
        return f"{actor} saved {what}{ending}"
    return f"{actor} removed {what}"


def actor_display(event: AuditEvent) -> str:
    """The person's name, else their SSO identity or username; 'unknown' for Patchworks."""
    name = event.actor_name or event.sso_identity or event.actor_username
    if event.sign_in_method == "schedule":
        return f"the schedule on behalf of {name or 'an unnamed user'}"
    if name:
        return name
    return UNKNOWN_ACTOR if event.source == AuditEvent.Source.PATCHWORKS else "an unnamed user"


def state_changes(before: Any, after: Any) -> list[tuple[str, str, str]]:
    """(label, before, after) for each compared value, in a fixed, readable order."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    keys = [key for key in STATE_LABELS if key in before or key in after]
    keys += sorted((set(before) | set(after)) - set(STATE_LABELS))
    return [
        (
            STATE_LABELS.get(key, key.replace("_", " ").capitalize()),
            _value(key, before.get(key)) if before else "—",
            _value(key, after.get(key)) if after else "—",
        )
        for key in keys
    ]


def state_lines(state: Any) -> list[tuple[str, str]]:
    """(label, value) for each value of one recorded state, in the same order."""
    return [(label, value) for label, value, _ in state_changes(state, state)]


def _recorded_values(event: AuditEvent, final: AuditEvent) -> dict[str, Any]:
    """Before and after side by side, or the one state recorded with a title saying which."""
    before = event.before if isinstance(event.before, dict) else None
    after = final.after if isinstance(final.after, dict) else None
    if before and after:
        return {"changes": state_changes(before, after)}
    if event.outcome == AuditEvent.Outcome.REFUSED:
        title = "Values at the time"
    else:
        title = "Values before" if before else "Values after"
    state = before or after
    return {"values": state_lines(state), "values_title": title if state else ""}


# --- wording ----------------------------------------------------------------------------


def _outcome_code(event: AuditEvent, result: AuditEvent | None) -> str:
    return result.outcome if result else event.outcome


def _outcome_text(event: AuditEvent, result: AuditEvent | None) -> str:
    if event.source == AuditEvent.Source.PATCHWORKS:
        text = "in Patchworks, outside the console"
        return f"{text} ({event.message})" if event.message else text
    if event.outcome == AuditEvent.Outcome.REFUSED:
        return f"refused: {_sentence_part(event.message)}" if event.message else "refused"
    if event.action in LOCAL_PHRASES and event.outcome == AuditEvent.Outcome.SUCCEEDED:
        return "done in the console"
    if event.action in CONTROL_ACTIONS:
        return "recorded"
    if result is None:
        return NO_OUTCOME
    message = _sentence_part(result.message)
    status = f" (Patchworks answered {result.upstream_status})" if result.upstream_status else ""
    if result.outcome == AuditEvent.Outcome.SUCCEEDED:
        return "succeeded"
    if result.outcome == AuditEvent.Outcome.UNKNOWN:
        return f"outcome unknown: {message}" if message else "outcome unknown"
    return f"failed: {message}{status}" if message else f"failed{status}"


def _sentence_part(message: str) -> str:
    """A message as the tail of a sentence: no final full stop, a common first word lowered."""
    message = message.strip().rstrip(".")
    first = message.split(" ", 1)[0]
    if first in KEEP_CAPITALISED or not first[1:].islower():
        return message
    return message[:1].lower() + message[1:]


def _label(event: AuditEvent, state: Any, *, inline: bool) -> str:
    """'Orders → Shopify v3 (UK Live, live)' or, inside a sentence, '... in UK Live (live)'."""
    state = state if isinstance(state, dict) else {}
    name = event.flow_name or (f"deployment {event.deployment_id}" if event.deployment_id else "")
    name = name or "a deployment"
    if state.get("flow_version_iteration"):
        name = f"{name} v{state['flow_version_iteration']}"
    environment = event.environment_name or state.get("environment_name") or ""
    environment_id = event.environment_id or state.get("virtual_environment_id") or ""
    kind = event.environment_type or state.get("environment_type") or ""
    is_global = environment == GLOBAL_ENVIRONMENT_NAME or (
        not environment_id and "virtual_environment_id" in state
    )
    if is_global:
        return f"the global deployment of {name}" if inline else f"{name} (global deployment)"
    if not environment and environment_id:
        environment = f"environment {environment_id}"
    if not environment:
        return name
    if inline:
        return f"{name} in {environment}" + (f" ({kind})" if kind else "")
    return f"{name} ({environment}, {kind})" if kind else f"{name} ({environment})"


def _change_summary(entry: AuditEntry) -> str:
    if entry.action != AuditEvent.Action.UPDATE:
        return ""
    moved = [f"{label.lower()} {old} → {new}" for label, old, new in entry.changes if old != new]
    moved = [text for text in moved if not text.startswith(("enabled at", "version "))]
    return f": {', '.join(moved)}" if moved else ""


def _value(key: str, value: Any) -> str:
    if key == "enabled":
        return "enabled" if value else "disabled"
    if key == "priority" and value in (None, ""):
        return INHERITED_PRIORITY
    if value in (None, ""):
        return "—"
    if key == "enabled_at":
        return _when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    return str(value)


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        return date_format(timezone.localtime(value), "j M Y H:i:s T")
    return str(value)


def _details(
    event: AuditEvent, result: AuditEvent | None, entry: dict[str, Any]
) -> list[tuple[str, str]]:
    """Every recorded field, labelled in plain words; empty ones left out."""
    external = event.source == AuditEvent.Source.PATCHWORKS
    ids = ", ".join(
        f"{pk} ({'outcome' if result and pk != event.pk else 'event'})" for pk in entry["event_ids"]
    )
    rows = [
        ("When", _when(event.occurred_at)),
        ("Where", "Patchworks, outside the console" if external else "the console"),
        ("Who", entry["actor"]),
        ("Console username", event.actor_username),
        ("SSO identity", event.sso_identity),
        ("Signed in with", SIGN_IN_METHODS.get(event.sign_in_method, event.sign_in_method)),
        ("IP address", event.ip_address or ""),
        ("Browser (user agent)", event.user_agent),
        ("Request id", event.request_id),
        ("Action", entry["verb"]),
        ("Deployment", "" if event.action in ACCOUNT_ACTIONS else entry["deployment_label"]),
        ("Deployment id", entry["deployment_id"]),
        ("Flow version id", event.flow_version_id),
        ("Flow id", event.flow_id),
        ("Environment id", event.environment_id),
        ("Reason", event.reason),
        ("Outcome", entry["outcome_text"]),
        ("Outcome recorded at", _when(result.occurred_at) if result else ""),
        ("Patchworks status", str(entry["upstream_status"] or "")),
        ("Event ids", ids),
    ]
    return [(label, value) for label, value in rows if value]
