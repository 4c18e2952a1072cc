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
from django.utils.translation import gettext, gettext_noop, pgettext

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS, account_sentence, actor_display
from deployments_ui.audit.values import (
    sentence_part,
    settings_message_words,
    state_changes,
    state_lines,
    stored_part,
    when_words,
)
from deployments_ui.audit.wording import (
    BASE_VERBS,
    CONTROL_ACTIONS,
    CONTROL_NUMBERED,
    CONTROL_UNNUMBERED,
    DONE,
    LOCAL_PHRASES,
    MAYBE,
    SETTINGS_ACTIONS,
    TRIED,
    on_behalf_words,
    outcome_text,
)
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.vocabulary import GLOBAL_ENVIRONMENT_NAME

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

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
        "outcome_text": outcome_text(event, result, settled=settled),
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
        entry = replace(entry, actor=gettext("%(actor)s,") % {"actor": entry.actor})
    if entry.action in LOCAL_PHRASES and entry.outcome == AuditEvent.Outcome.SUCCEEDED:
        sentence = gettext(DONE[entry.action]) % {"actor": entry.actor, "place": entry.place}
        if entry.message:
            sentence += f": {stored_part(entry.message)}"
        if entry.reason:
            sentence += " — " + _reason(entry.reason)
        return sentence[:1].upper() + sentence[1:]
    if entry.action in SETTINGS_ACTIONS and entry.outcome != AuditEvent.Outcome.REFUSED:
        return _describe_setting(entry)
    if entry.action in CONTROL_ACTIONS and entry.outcome != AuditEvent.Outcome.REFUSED:
        return _describe_control(entry)
    parts = [f"{_doing(entry)}{_change_summary(entry)}{entry.on_behalf}"]
    if entry.reason:
        parts.append(_reason(entry.reason))
    parts.append(entry.outcome_text)
    parts.append(entry.note)
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _doing(entry: AuditEntry) -> str:
    """Who did what to which deployment, as the outcome allows it: done, tried (refused, failed
    or never answered), or perhaps done (Patchworks did not answer in time)."""
    words = {"actor": entry.actor, "place": entry.place}
    if (
        entry.source == AuditEvent.Source.PATCHWORKS
        or entry.outcome == AuditEvent.Outcome.SUCCEEDED
    ):
        sentence = DONE.get(entry.action)
    elif entry.outcome == AuditEvent.Outcome.UNKNOWN:
        sentence = MAYBE.get(entry.action)
    else:
        sentence = TRIED.get(entry.action)
    if sentence is None:
        return gettext("%(actor)s: %(verb)s, %(place)s") % {**words, "verb": gettext(entry.verb)}
    return gettext(sentence) % words


def _reason(reason: str) -> str:
    return gettext("reason: %(reason)s") % {"reason": reason}


def _describe_control(entry: AuditEntry) -> str:
    """'Bob Approver approved change request 4 to disable Orders v3 in UK Live (live)'."""
    words = {
        "actor": entry.actor,
        "change": gettext(BASE_VERBS.get(entry.change, entry.change or "change")),
        "place": entry.place,
        "number": entry.change_request or "",
    }
    numbered = CONTROL_NUMBERED if entry.change_request else CONTROL_UNNUMBERED
    template = numbered.get(entry.action)
    if template is None:
        sentence = gettext("%(actor)s: %(verb)s, %(place)s") % {
            **words,
            "verb": gettext(entry.verb),
        }
    else:
        sentence = gettext(template) % words
    parts = [sentence]
    if entry.reason:
        parts.append(_reason(entry.reason))
    if entry.message and entry.action in ("approve", "expire", "withdraw"):
        parts.append(stored_part(entry.message))
    sentence = " — ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:]


def _describe_setting(entry: AuditEntry) -> str:
    """'Adam Admin added the webhook “Ops channel”'; events written before settings messages
    began with their verb read 'Adam Admin changed change control — change control for …'."""
    message = entry.message.strip()
    known = settings_message_words(message)
    if known:
        sentence = gettext("%(actor)s %(what)s") % {"actor": entry.actor, "what": known}
    elif message and not message.startswith(OLD_SETTINGS_MESSAGES):
        # Stored as Patchworks or an older console wrote it: quoted, as it is.
        sentence = pgettext("a stored English message", "%(actor)s %(message)s") % {
            "actor": entry.actor,
            "message": sentence_part(message),
        }
    else:
        what = gettext("%(actor)s %(verb)s") % {"actor": entry.actor, "verb": gettext(entry.verb)}
        sentence = f"{what} — {sentence_part(message)}" if message else what
    if entry.reason:
        sentence += " — " + _reason(entry.reason)
    return sentence[:1].upper() + sentence[1:]


def _recorded_values(event: AuditEvent, final: AuditEvent) -> dict[str, Any]:
    """Before and after side by side, or the one state recorded with a title saying which."""
    before = event.before if isinstance(event.before, dict) else None
    after = final.after if isinstance(final.after, dict) else None
    if before and after:
        return {"changes": state_changes(before, after)}
    if event.outcome == AuditEvent.Outcome.REFUSED:
        title = gettext_noop("Values at the time")
    else:
        title = gettext_noop("Values before") if before else gettext_noop("Values after")
    state = before or after
    return {"values": state_lines(state), "values_title": title if state else ""}


# --- wording ----------------------------------------------------------------------------


def _outcome_code(event: AuditEvent, result: AuditEvent | None) -> str:
    return result.outcome if result else event.outcome


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
    name = ref.versioned_name()
    if ref.is_global:
        return gettext("%(name)s (global deployment)") % {"name": name}
    where = ref.environment_name or (
        gettext("environment %(id)s") % {"id": ref.environment_id} if ref.environment_id else ""
    )
    if not where:
        return name
    kind = gettext(ref.environment_type) if ref.environment_type else ""
    return f"{name} ({where}, {kind})" if kind else f"{name} ({where})"


def _change_summary(entry: AuditEntry) -> str:
    if entry.action != AuditEvent.Action.UPDATE:
        return ""
    moved = [
        f"{_in_sentence(label)} {gettext(old)} → {gettext(new)}"
        for label, old, new in entry.changes
        if old != new and label not in ("Enabled at", "Version")
    ]
    return f": {', '.join(moved)}" if moved else ""


def _in_sentence(label: str) -> str:
    """A value's label inside a sentence: 'priority' (a German noun keeps its capital)."""
    word = gettext(label)
    return word.lower() if word == label else word


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
