"""How a scheduled change ran, in words: said in the language active when they are said (the
reader's on a page; the console's own when the worker records them)."""

from __future__ import annotations

from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop, ngettext

# Why a change ran late, as the worker records it after its lateness.
LATE_BECAUSE = (
    gettext_noop("(no worker was running at its time)"),
    gettext_noop("(the worker was running but busy at its time)"),
)
APPLIED = {
    "enable": gettext_noop("Enabled %(late)s."),
    "disable": gettext_noop("Disabled %(late)s."),
}


def lateness_words(seconds: float) -> str:
    """'on time', '3 s late', '4 min late', '2.5 h late'."""
    if seconds < 1:
        return gettext("on time")
    if seconds < 120:
        count = round(seconds)
        return ngettext("%(count)d s late", "%(count)d s late", count) % {"count": count}
    if seconds < 7200:
        count = round(seconds / 60)
        return ngettext("%(count)d min late", "%(count)d min late", count) % {"count": count}
    return gettext("%(hours)s h late") % {"hours": number_format(seconds / 3600, 1)}


def applied_words(action: str, seconds: float, recorded: str) -> str:
    """'Enabled 3 s late.' from what is known of it: the action, its lateness and, from the
    recorded words, why it was late."""
    late = lateness_words(seconds)
    for because in LATE_BECAUSE:
        if because in recorded:
            late = f"{late} {gettext(because)}"
    return gettext(APPLIED[action]) % {"late": late}
