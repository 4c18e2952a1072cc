"""The audit trail's words, as sentence templates in the reader's language: what someone did to
a deployment (done, perhaps done, tried), steps of change control, on whose behalf, and how it
went. Whole sentences with placeholders, so that each language puts its verb where it goes."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, gettext_noop

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.audit.values import sentence_part, stored_part

NO_OUTCOME = gettext_noop("no outcome recorded (the console stopped before Patchworks answered)")
# A deployment's change as a whole sentence, so that each language puts the verb where it goes:
# done (or seen in Patchworks), perhaps done (no answer in time), and tried.
DONE = {
    "create": gettext_noop("%(actor)s created %(place)s"),
    "update": gettext_noop("%(actor)s changed %(place)s"),
    "delete": gettext_noop("%(actor)s deleted %(place)s"),
    "enable": gettext_noop("%(actor)s enabled %(place)s"),
    "disable": gettext_noop("%(actor)s disabled %(place)s"),
    "schedule": gettext_noop("%(actor)s scheduled a change to %(place)s"),
    "reschedule": gettext_noop("%(actor)s moved a scheduled change to %(place)s"),
    "unschedule": gettext_noop("%(actor)s cancelled a scheduled change to %(place)s"),
    "bulk": gettext_noop("%(actor)s started a bulk change to %(place)s"),
}
MAYBE = {
    "create": gettext_noop("%(actor)s may have created %(place)s"),
    "update": gettext_noop("%(actor)s may have changed %(place)s"),
    "delete": gettext_noop("%(actor)s may have deleted %(place)s"),
    "enable": gettext_noop("%(actor)s may have enabled %(place)s"),
    "disable": gettext_noop("%(actor)s may have disabled %(place)s"),
}
TRIED = {
    "create": gettext_noop("%(actor)s tried to create %(place)s"),
    "update": gettext_noop("%(actor)s tried to change %(place)s"),
    "delete": gettext_noop("%(actor)s tried to delete %(place)s"),
    "enable": gettext_noop("%(actor)s tried to enable %(place)s"),
    "disable": gettext_noop("%(actor)s tried to disable %(place)s"),
    "schedule": gettext_noop("%(actor)s tried to schedule a change to %(place)s"),
    "reschedule": gettext_noop("%(actor)s tried to move a scheduled change to %(place)s"),
    "unschedule": gettext_noop("%(actor)s tried to cancel a scheduled change to %(place)s"),
    "bulk": gettext_noop("%(actor)s tried to start a bulk change to %(place)s"),
}
BASE_VERBS = {
    "create": gettext_noop("create"),
    "update": gettext_noop("change"),
    "delete": gettext_noop("delete"),
    "enable": gettext_noop("enable"),
    "disable": gettext_noop("disable"),
    "schedule": gettext_noop("schedule a change to"),
    "reschedule": gettext_noop("move a scheduled change to"),
    "unschedule": gettext_noop("cancel a scheduled change to"),
    "bulk": gettext_noop("start a bulk change to"),
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


def on_behalf_words(after: Any) -> str:
    """' at the request of Oscar Operator (change request 7, approved by Edie Editor)' for a
    write made through a change request; '' otherwise."""
    after = after if isinstance(after, dict) else {}
    number = after.get("change_request")
    undoing = ""
    if after.get("undoes"):
        undoing = gettext(" (undoing the change of event %(number)s)") % {"number": after["undoes"]}
    if after.get("bulk_job_id"):
        undoing += gettext(" as part of bulk job #%(number)s") % {"number": after["bulk_job_id"]}
    if not number or not after.get("requested_by"):
        return undoing
    approved = ", ".join(after.get("approved_by") or [])
    if after.get("break_glass"):
        how = gettext("applied without waiting for approval: %(reason)s") % {
            "reason": after["break_glass"]
        }
    else:
        how = gettext("approved by %(people)s") % {"people": approved} if approved else ""
        how = how or gettext("approved")
    words = {"person": after["requested_by"], "number": number, "how": how}
    return (
        gettext(" at the request of %(person)s (change request %(number)s, %(how)s)") % words
        + undoing
    )


# Steps of change control, with the request's number and without (`change` is a BASE_VERBS
# infinitive: "disable", "schedule a change to").
CONTROL_NUMBERED = {
    "request": gettext_noop(
        "%(actor)s asked for approval to %(change)s %(place)s (change request %(number)s)"
    ),
    "request_edit": gettext_noop(
        "%(actor)s edited change request %(number)s to %(change)s %(place)s; "
        "its approvals were reset"
    ),
    "approve": gettext_noop("%(actor)s approved change request %(number)s to %(change)s %(place)s"),
    "decline": gettext_noop("%(actor)s declined change request %(number)s to %(change)s %(place)s"),
    "expire": gettext_noop("Change request %(number)s to %(change)s %(place)s expired"),
    "withdraw": gettext_noop(
        "%(actor)s withdrew change request %(number)s to %(change)s %(place)s"
    ),
    "break_glass": gettext_noop(
        "%(actor)s applied change request %(number)s to %(change)s %(place)s "
        "without waiting for approval"
    ),
    "freeze_override": gettext_noop(
        "%(actor)s overrode a freeze window to %(change)s %(place)s (change request %(number)s)"
    ),
}
CONTROL_UNNUMBERED = {
    "request": gettext_noop("%(actor)s asked for approval to %(change)s %(place)s"),
    "request_edit": gettext_noop(
        "%(actor)s edited a request to %(change)s %(place)s; its approvals were reset"
    ),
    "approve": gettext_noop("%(actor)s approved a request to %(change)s %(place)s"),
    "decline": gettext_noop("%(actor)s declined a request to %(change)s %(place)s"),
    "expire": gettext_noop("A request to %(change)s %(place)s expired"),
    "withdraw": gettext_noop("%(actor)s withdrew a request to %(change)s %(place)s"),
    "break_glass": gettext_noop(
        "%(actor)s applied a change to %(change)s %(place)s without waiting for approval"
    ),
    "freeze_override": gettext_noop("%(actor)s overrode a freeze window to %(change)s %(place)s"),
}


def outcome_text(event: AuditEvent, result: AuditEvent | None, *, settled: bool = False) -> str:
    if event.source == AuditEvent.Source.PATCHWORKS:
        text = gettext("in Patchworks, outside the console")
        return f"{text} ({event.message})" if event.message else text
    if event.outcome == AuditEvent.Outcome.REFUSED:
        if not event.message:
            return gettext("refused")
        return gettext("refused: %(why)s") % {"why": stored_part(event.message)}
    if event.action in LOCAL_PHRASES and event.outcome == AuditEvent.Outcome.SUCCEEDED:
        return gettext("done in the console")
    if event.action in CONTROL_ACTIONS or event.action in SETTINGS_ACTIONS:
        return gettext("recorded")
    if event.action in ACCOUNT_ACTIONS:
        return (
            gettext("failed") if event.outcome == AuditEvent.Outcome.FAILED else gettext("recorded")
        )
    if result is None:
        return gettext(NO_OUTCOME)
    return _result_text(result, settled=settled)


def _result_text(result: AuditEvent, *, settled: bool) -> str:
    """How Patchworks answered; its own words (`message`) are kept as it wrote them."""
    message = sentence_part(result.message)
    words = {"message": message, "status": result.upstream_status}
    if settled:
        return gettext("Patchworks did not answer in time; checked afterwards: %(message)s") % words
    if result.outcome == AuditEvent.Outcome.SUCCEEDED:
        return gettext("succeeded")
    if result.outcome == AuditEvent.Outcome.UNKNOWN:
        if message:
            return gettext("outcome unknown: %(message)s") % words
        return gettext("outcome unknown")
    refused = bool(result.upstream_status and 400 <= result.upstream_status < 500)
    if message and result.upstream_status:
        text = (
            gettext("Patchworks refused: %(message)s (Patchworks answered %(status)s)")
            if refused
            else gettext("failed: %(message)s (Patchworks answered %(status)s)")
        )
    elif message:
        text = (
            gettext("Patchworks refused: %(message)s")
            if refused
            else gettext("failed: %(message)s")
        )
    elif result.upstream_status:
        text = (
            gettext("Patchworks refused (Patchworks answered %(status)s)")
            if refused
            else gettext("failed (Patchworks answered %(status)s)")
        )
    else:
        text = gettext("failed")
    return text % words
