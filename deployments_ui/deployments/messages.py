"""What the one write path says: words shown in the reader's language and recorded in the
console's own (`core.words.later`)."""

from __future__ import annotations

from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from deployments_ui.core.words import later


def already(deployment: Any) -> str:
    """The one sentence for a change found already made."""
    if not deployment.is_enabled:
        return later(lambda: gettext("Already disabled by someone else. Nothing was changed."))
    who = deployment.enabled_by.name if deployment.enabled_by else ""
    return later(lambda: _already_enabled(who, deployment.enabled_at))


def _already_enabled(who: str, at) -> str:
    words = {"who": who or gettext("someone")}
    if not at:
        return gettext("Already enabled by %(who)s. Nothing was changed.") % words
    words["when"] = date_format(at, pgettext("a day and time (date format)", "j M Y H:i"))
    return gettext("Already enabled by %(who)s on %(when)s. Nothing was changed.") % words


def unexpected(kind: str) -> str:
    return later(lambda: gettext("Unexpected error: %(kind)s. Nothing was sent.") % {"kind": kind})


def nothing_changed(message: str) -> str:
    return later(lambda: gettext("%(message)s Nothing was changed.") % {"message": message})


def not_known(message: str) -> str:
    return later(
        lambda: (
            gettext(
                "%(message)s Patchworks did not say whether it was changed: the console checks "
                "within a minute and records what it finds."
            )
            % {"message": message}
        )
    )


def changed_since() -> str:
    return later(
        lambda: gettext("This deployment was changed in Patchworks after you opened the form.")
    )


def no_key() -> str:
    return later(lambda: gettext("No Patchworks API key is saved for this person."))


def unread(why: str) -> str:
    return later(lambda: gettext("Could not read the deployment first: %(why)s") % {"why": why})


def cancelled() -> str:
    return later(lambda: gettext("Cancelled before it was sent: nothing was sent to Patchworks."))
