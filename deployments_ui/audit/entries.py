"""Reading the audit trail: rows merged into entries and told as one plain sentence each.

An entry is what a person sees as one event: a console attempt together with its outcome
row, a refusal, or a change seen in Patchworks. `deployments_ui.audit` re-exports the names
the rest of the console uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS, account_sentence, actor_display
from deployments_ui.audit.values import (
    sentence_part,
    state_changes,
    state_lines,
    when_words,
)
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.vocabulary import GLOBAL_ENVIRONMENT_NAME

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

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
# Steps of change control: single rows whose sentence names the change request.
CONTROL_ACTIONS = frozenset(
    {
        "request",
        "request_edit",
        "approve",
        "decline",
        "expire",
        "withdraw",
        "break_glass",
        "freeze_override",
    }
)
# Changes to the console's own settings: one row each, before → after in plain words, told as
# "Adam Admin added the webhook “Ops”" (the message is the verb and what it acted on). Shown,
# like account events, only to those who see the whole trail.
SETTINGS_ACTIONS = frozenset({"control_settings", "webhook", "subscription", "saved_view"})
OLD_SETTINGS_MESSAGES = ("Change control for",)
PERSONAL_DETAILS = frozenset({"IP address", "Browser (user agent)"})
SIGN_IN_METHODS = {
    "password": "password",
    "sso": "single sign-on",
    "system": "background job",
    "schedule": "a scheduled change, applied by the console's scheduler",
    "bulk": "a bulk job, run by the console's scheduler",
    "oidc": "single sign-on (OpenID Connect)",
    "scim": "provisioning (SCIM) from the identity provider",
    "token": "a personal API token",
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
    # A write made through a change request: who asked, and who approved.
    on_behalf: str = ""
    requested_by_id: int | None = None
    # Done through a personal API token: the actor reads "Ann Smith, by token '…'".
    by_token: bool = False

    @property
    def is_control(self) -> bool:
        return self.action in CONTROL_ACTIONS or self.action in SETTINGS_ACTIONS

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
    result = AuditEvent.objects.filter(completes=OuterRef("pk")).order_by("-id").values("outcome")
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
    # The newest result counts: an "unknown" outcome is followed by how it was settled.
    result = results[-1] if results else None
    settled = len(results) > 1
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
        "outcome_text": _outcome_text(event, result, settled=settled),
        "message": final.message,
        "upstream_status": final.upstream_status,
        "completed_at": result.occurred_at if result else None,
        "event_ids": tuple(row.pk for row in [event, *results]),
        "note": event.message if event.outcome == AuditEvent.Outcome.PENDING else "",
    }
    entry_data.update(_recorded_values(event, final))
    recorded = event.after if isinstance(event.after, dict) else {}
    entry_data["on_behalf"] = on_behalf_words(recorded)
    entry_data["requested_by_id"] = recorded.get("requested_by_id")
    entry_data["by_token"] = event.sign_in_method == "token"
    if event.action in CONTROL_ACTIONS and isinstance(event.after, dict):
        entry_data["change"] = str(event.after.get("change", ""))
        entry_data["change_request"] = event.after.get("change_request")
    details = _details(event, result, entry_data)
    if not personal:
        details = [(label, value) for label, value in details if label not in PERSONAL_DETAILS]
    return AuditEntry(**entry_data, details=details, summary=account_sentence(event))


def describe(entry: AuditEntry | AuditEvent) -> str:
    """The one plain sentence for an event, e.g.

    "Ann Smith disabled Orders → Shopify v3 in UK Live (live) — reason: supplier outage —
    failed: Patchworks did not answer".
    """
    if isinstance(entry, AuditEvent):
        entry = entry_from_event(entry)
    if entry.summary:
        return entry.summary
    if entry.by_token:
        entry = replace(entry, actor=f"{entry.actor},")
    if entry.action in LOCAL_PHRASES and entry.outcome == AuditEvent.Outcome.SUCCEEDED:
        sentence = f"{entry.actor} {LOCAL_PHRASES[entry.action]} {entry.place}"
        if entry.message:
            sentence += f": {entry.message}"
        if entry.reason:
            sentence += f" — reason: {entry.reason}"
        return sentence[:1].upper() + sentence[1:]
    if entry.action in SETTINGS_ACTIONS and entry.outcome != AuditEvent.Outcome.REFUSED:
        return _describe_setting(entry)
    if entry.action in CONTROL_ACTIONS and entry.outcome != AuditEvent.Outcome.REFUSED:
        return _describe_control(entry)
    doing = _doing(entry)
    parts = [f"{entry.actor} {doing} {entry.place}{_change_summary(entry)}{entry.on_behalf}"]
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    parts.append(entry.outcome_text)
    parts.append(entry.note)
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _doing(entry: AuditEntry) -> str:
    """The verb as the outcome allows it: done, tried (refused, failed or never answered), or
    perhaps done (Patchworks did not answer in time)."""
    base = BASE_VERBS.get(entry.action, entry.action)
    if (
        entry.source == AuditEvent.Source.PATCHWORKS
        or entry.outcome == AuditEvent.Outcome.SUCCEEDED
    ):
        return entry.verb
    if entry.outcome == AuditEvent.Outcome.UNKNOWN:
        return f"may have {entry.verb}"
    return f"tried to {base}"


def on_behalf_words(after: Any) -> str:
    """' at the request of Oscar Operator (change request 7, approved by Edie Editor)' for a
    write made through a change request; '' otherwise."""
    after = after if isinstance(after, dict) else {}
    number = after.get("change_request")
    undoing = f" (undoing the change of event {after['undoes']})" if after.get("undoes") else ""
    if after.get("bulk_job_id"):
        undoing += f" as part of bulk job #{after['bulk_job_id']}"
    if not number or not after.get("requested_by"):
        return undoing
    approved = ", ".join(after.get("approved_by") or [])
    how = (
        f"applied without waiting for approval: {after['break_glass']}"
        if after.get("break_glass")
        else (f"approved by {approved}" if approved else "approved")
    )
    return f" at the request of {after['requested_by']} (change request {number}, {how}){undoing}"


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
        "withdraw": f"{entry.actor} withdrew {request}",
        "break_glass": f"{entry.actor} applied {request} without waiting for approval",
        "freeze_override": f"{entry.actor} overrode a freeze window to {change} {entry.place}"
        + (f" ({number})" if number else ""),
    }
    parts = [sentences.get(entry.action, f"{entry.actor} {entry.verb} {entry.place}")]
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    if entry.message and entry.action in ("approve", "expire", "withdraw"):
        parts.append(sentence_part(entry.message))
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _describe_setting(entry: AuditEntry) -> str:
    """'Adam Admin added the webhook “Ops channel”'; events written before settings messages
    began with their verb read 'Adam Admin changed change control — change control for …'."""
    message = entry.message.strip()
    if message and not message.startswith(OLD_SETTINGS_MESSAGES):
        sentence = f"{entry.actor} {sentence_part(message)}"
    else:
        what = f"{entry.actor} {entry.verb}"
        sentence = f"{what} — {sentence_part(message)}" if message else what
    if entry.reason:
        sentence += f" — reason: {entry.reason}"
    return sentence[:1].upper() + sentence[1:]


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


def _outcome_text(event: AuditEvent, result: AuditEvent | None, *, settled: bool = False) -> str:
    if event.source == AuditEvent.Source.PATCHWORKS:
        text = "in Patchworks, outside the console"
        return f"{text} ({event.message})" if event.message else text
    if event.outcome == AuditEvent.Outcome.REFUSED:
        return f"refused: {sentence_part(event.message)}" if event.message else "refused"
    if event.action in LOCAL_PHRASES and event.outcome == AuditEvent.Outcome.SUCCEEDED:
        return "done in the console"
    if event.action in CONTROL_ACTIONS or event.action in SETTINGS_ACTIONS:
        return "recorded"
    if event.action in ACCOUNT_ACTIONS:
        return "failed" if event.outcome == AuditEvent.Outcome.FAILED else "recorded"
    if result is None:
        return NO_OUTCOME
    message = sentence_part(result.message)
    status = f" (Patchworks answered {result.upstream_status})" if result.upstream_status else ""
    if settled:
        return f"Patchworks did not answer in time; checked afterwards: {message}"
    if result.outcome == AuditEvent.Outcome.SUCCEEDED:
        return "succeeded"
    if result.outcome == AuditEvent.Outcome.UNKNOWN:
        return f"outcome unknown: {message}" if message else "outcome unknown"
    if result.upstream_status and 400 <= result.upstream_status < 500:
        return (
            f"Patchworks refused: {message}{status}" if message else f"Patchworks refused{status}"
        )
    return f"failed: {message}{status}" if message else f"failed{status}"


def _label(event: AuditEvent, state: Any, *, inline: bool) -> str:
    """'... in UK Live (live)' inside a sentence (`DeploymentRef.label`), or
    'Orders → Shopify v3 (UK Live, live)' in a table cell."""
    state = state if isinstance(state, dict) else {}
    environment_id = event.environment_id or state.get("virtual_environment_id") or ""
    environment = event.environment_name or state.get("environment_name") or ""
    if not environment and not environment_id and "virtual_environment_id" in state:
        environment = GLOBAL_ENVIRONMENT_NAME
    ref = replace(
        DeploymentRef.of(event),
        flow_version_iteration=state.get("flow_version_iteration") or None,
        environment_id=str(environment_id),
        environment_name=environment,
        environment_type=event.environment_type or state.get("environment_type") or "",
    )
    if inline:
        return ref.label(kind=True)
    name = ref.label().removesuffix(f" in {ref.environment_name}")
    if ref.is_global:
        return f"{ref.flow_label}{_version(ref)} (global deployment)"
    where = ref.environment_name or (
        f"environment {ref.environment_id}" if ref.environment_id else ""
    )
    if not where:
        return name
    return (
        f"{name} ({where}, {ref.environment_type})" if ref.environment_type else f"{name} ({where})"
    )


def _version(ref: DeploymentRef) -> str:
    return f" version {ref.flow_version_iteration}" if ref.flow_version_iteration else ""


def _change_summary(entry: AuditEntry) -> str:
    if entry.action != AuditEvent.Action.UPDATE:
        return ""
    moved = [f"{label.lower()} {old} → {new}" for label, old, new in entry.changes if old != new]
    moved = [text for text in moved if not text.startswith(("enabled at", "version "))]
    return f": {', '.join(moved)}" if moved else ""


def _details(
    event: AuditEvent, result: AuditEvent | None, entry: dict[str, Any]
) -> list[tuple[str, str]]:
    """Every recorded field, labelled in plain words; empty ones left out."""
    external = event.source == AuditEvent.Source.PATCHWORKS
    happened, asked = gettext("what happened"), gettext("what was asked")
    ids = ", ".join(
        f"{pk} ({happened if result and pk != event.pk else asked})" for pk in entry["event_ids"]
    )
    rows = [
        ("When", when_words(event.occurred_at)),
        ("Where", "Patchworks, outside the console" if external else "the console"),
        ("Who", entry["actor"]),
        ("Console username", event.actor_username),
        ("Single sign-on name", event.sso_identity),
        ("Signed in with", SIGN_IN_METHODS.get(event.sign_in_method, event.sign_in_method)),
        ("IP address", event.ip_address or ""),
        ("Browser (user agent)", event.user_agent),
        ("Support reference", event.request_id),
        ("Action", entry["verb"]),
        ("Deployment", "" if event.action in ACCOUNT_ACTIONS else entry["deployment_label"]),
        ("Deployment id", entry["deployment_id"]),
        ("Flow version id", event.flow_version_id),
        ("Flow id", event.flow_id),
        ("Environment id", event.environment_id),
        ("Reason", event.reason),
        ("Outcome", entry["outcome_text"]),
        ("Outcome recorded at", when_words(result.occurred_at) if result else ""),
        ("Patchworks status", str(entry["upstream_status"] or "")),
        ("Record numbers", ids),
    ]
    return [(label, value) for label, value in rows if value]
