"""Recorded values in plain words: a deployment's state before and after a change."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop, pgettext

from deployments_ui.core.vocabulary import INHERITED_PRIORITY

KEEP_CAPITALISED = {"Patchworks", "I"}

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
    "requested_by": "Asked for by",
    "approved_by": "Approved by",
    "bulk_job_id": "Bulk job",
    "schedule_id": "Scheduled change",
    "undoes": "Undoes event",
    "token": "Through the API token",
}
# Labels and values that settings events and schedules recorded in plain English words: pages
# show them in the reader's language (`{% translate %}`), the record keeps them as written.
RECORDED_WORDS = (
    gettext_noop("For"),
    gettext_noop("How often"),
    gettext_noop("Page"),
    gettext_noop("Shared"),
    gettext_noop("Owner"),
    gettext_noop("with everyone"),
    gettext_noop("no, only its owner sees it"),
    gettext_noop("yes"),
    gettext_noop("no"),
    gettext_noop("any"),
    gettext_noop("Due at"),
    gettext_noop("Until"),
    gettext_noop("Kinds of event"),
    gettext_noop("Only problems"),
    gettext_noop("Slack-compatible (text and blocks)"),
    gettext_noop("Generic JSON"),
    gettext_noop("Grafana annotations (each change marked on dashboards)"),
)
# Recorded with a change but shown on their own (the flow's health when it was made).
OWN_SECTION = frozenset({"flow_health"})


def state_changes(before: Any, after: Any) -> list[tuple[str, str, str]]:
    """(label, before, after) for each compared value, in a fixed, readable order."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    keys = [key for key in STATE_LABELS if key in before or key in after]
    # Other values keep the order they were recorded in (a settings event lists its own).
    keys += [
        key
        for key in dict.fromkeys([*before, *after])
        if key not in STATE_LABELS and key not in OWN_SECTION
    ]
    return [
        (
            STATE_LABELS.get(key, key.replace("_", " ").capitalize()),
            value_words(key, before.get(key)) if before else "—",
            value_words(key, after.get(key)) if after else "—",
        )
        for key in keys
    ]


def state_lines(state: Any) -> list[tuple[str, str]]:
    """(label, value) for each value of one recorded state, in the same order."""
    return [(label, value) for label, value, _ in state_changes(state, state)]


def value_words(key: str, value: Any) -> str:
    if key == "enabled":
        return "enabled" if value else "disabled"
    if key == "priority" and value in (None, ""):
        return INHERITED_PRIORITY
    if value in (None, ""):
        return "—"
    if key == "enabled_at":
        return when_words(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    return str(value)


def when_words(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        return date_format(timezone.localtime(value), gettext("j M Y H:i:s T"))
    return str(value)


def sentence_part(message: str) -> str:
    """A message as the tail of a sentence: no final full stop, a common first word lowered."""
    message = message.strip().rstrip(".")
    first = message.split(" ", 1)[0]
    if first in KEEP_CAPITALISED or not first[1:].islower():
        return message
    return message[:1].lower() + message[1:]


# Settings events keep the English message they were recorded with; these shapes are worded
# again in the reader's language when shown (the stored text is untouched).
STORED_SETTINGS_MESSAGES = [
    (
        re.compile(r"^Added the webhook “(?P<name>.*)”$"),
        gettext_noop("added the webhook “%(name)s”"),
    ),
    (
        re.compile(r"^Changed the webhook “(?P<name>.*)”$"),
        gettext_noop("changed the webhook “%(name)s”"),
    ),
    (
        re.compile(r"^Deleted the webhook “(?P<name>.*)”$"),
        gettext_noop("deleted the webhook “%(name)s”"),
    ),
    (
        re.compile(r"^Added the notification “(?P<name>.*)”$"),
        gettext_noop("added the notification “%(name)s”"),
    ),
    (
        re.compile(r"^Changed the notification “(?P<name>.*)”$"),
        gettext_noop("changed the notification “%(name)s”"),
    ),
    (
        re.compile(r"^Removed the notification “(?P<name>.*)”$"),
        gettext_noop("removed the notification “%(name)s”"),
    ),
    (re.compile(r"^Saved the view “(?P<name>.*)”$"), gettext_noop("saved the view “%(name)s”")),
    (re.compile(r"^Deleted the view “(?P<name>.*)”$"), gettext_noop("deleted the view “%(name)s”")),
    (
        re.compile(r"^Renamed the view “(?P<old>.*)” to “(?P<name>.*)”$"),
        gettext_noop("renamed the view “%(old)s” to “%(name)s”"),
    ),
]


def settings_message_words(message: str) -> str | None:
    """A settings event's stored message as the tail of a sentence in the reader's language,
    or None when its shape is not known (it is then shown as stored)."""
    for shape, sentence in STORED_SETTINGS_MESSAGES:
        found = shape.match(message.strip())
        if found:
            return gettext(sentence) % found.groupdict()
    return None


APPROVALS = re.compile(r"^(?P<given>\d+) of (?P<needed>\d+) approvals?\.?$")


def stored_part(message: str) -> str:
    """A message the console stored in its own words, as the tail of a sentence in the reader's
    language: translated when the catalogue knows it, else quoted as it was written."""
    message = message.strip()
    if not message:
        return ""
    translated = gettext(message)
    if translated != message:
        return sentence_part(translated)
    approvals = APPROVALS.match(message)
    if approvals:
        return gettext("%(given)s of %(needed)s approvals") % approvals.groupdict()
    quoted = pgettext("a stored English message, quoted", "%(message)s")
    return quoted % {"message": sentence_part(message)}
