"""A change's summary in plain words ('Disable Orders v3 in UK Live (live)'): worded in the
reader's language where a page shows it, and in the console's own where a change request
stores it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop, ngettext

from deployments_ui.audit.values import state_changes
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.identity import IDENTITY_FIELDS, DeploymentRef


def summary(action: str, target: DeploymentRef, before: dict | None, after: dict | None) -> str:
    """The plain sentence of a change, e.g. 'Disable Orders v3 in UK Live (live)', in the
    reader's language (what is stored is worded by `stored_summary`)."""
    state = before or after or {}
    if not target.flow_version_iteration and state.get("flow_version_iteration"):
        target = replace(target, flow_version_iteration=state["flow_version_iteration"])
    if action == "create":
        place = target.label(kind=True, preposition="into")
        if (after or {}).get("enabled", True):
            return gettext("Deploy %(place)s") % {"place": place}
        return gettext("Deploy %(place)s, not enabled yet") % {"place": place}
    verb = SUMMARY_VERBS.get(action, SUMMARY_VERBS["update"])
    text = gettext(verb) % {"place": target.label(kind=True)}
    if action == "update":
        moved = [
            f"{_in_sentence(label)} {gettext(old)} → {gettext(new)}"
            for label, old, new in state_changes(before, after)
            if old != new
        ]
        text += f": {', '.join(moved)}" if moved else ""
    return text


SUMMARY_VERBS = {
    "enable": gettext_noop("Enable %(place)s"),
    "disable": gettext_noop("Disable %(place)s"),
    "delete": gettext_noop("Delete %(place)s"),
    "update": gettext_noop("Change %(place)s"),
}


def _in_sentence(label: str) -> str:
    word = gettext(label)
    return word.lower() if word == label else word


def many_summary(action: str, refs: list[DeploymentRef], bulk_job_id: int | None) -> str:
    """'Disable 4 deployments in UK Live, DE Live (bulk job 7)', in the reader's language."""
    places = sorted({ref.environment_name for ref in refs if ref.environment_name})
    words = {
        "count": len(refs),
        "places": ", ".join(places) or gettext("several environments"),
        "job": bulk_job_id,
    }
    if action == "enable":
        text = ngettext(
            "Enable %(count)d deployment in %(places)s (bulk job %(job)s)",
            "Enable %(count)d deployments in %(places)s (bulk job %(job)s)",
            len(refs),
        )
    else:
        text = ngettext(
            "Disable %(count)d deployment in %(places)s (bulk job %(job)s)",
            "Disable %(count)d deployments in %(places)s (bulk job %(job)s)",
            len(refs),
        )
    return text % words


def summary_words(request: ChangeRequest) -> str:
    """A change request's summary worded again in the reader's language (the stored one stays
    as it was written)."""
    if request.bulk_job_id or (request.expected or {}).get("items"):
        items = (request.expected or {}).get("items") or []
        refs = [
            DeploymentRef(**{name: item[name] for name in IDENTITY_FIELDS if name in item})
            for item in items
            if isinstance(item, dict)
        ]
        return many_summary(request.action, refs, request.bulk_job_id)
    return summary(request.action, request.ref, request.expected, request.after)


def stored_summary(text: Callable[[], str]) -> str:
    """What a change request keeps as its summary: in the console's own language, up to 500."""
    with translation.override(settings.LANGUAGE_CODE):
        return text()[:500]
