"""The console's words for Patchworks' values, each defined once.

Patchworks' own terms (sort keys, filter names, the fields a deployment update accepts, the
global environment's name) are defined by the client in `deployments_ui.patchworks`; these are
the words people read for them.
"""

from __future__ import annotations

import zoneinfo

from django.utils.translation import gettext_noop, ngettext

# What the console calls a deployment in no virtual environment (Patchworks' global deployment).
GLOBAL_ENVIRONMENT_NAME = "No environment (global)"
# ...and what a page calls it: such a deployment runs in every environment.
ALL_ENVIRONMENTS = gettext_noop("All environments")
# A flow Patchworks did not name (its number means nothing to a person).
UNNAMED_FLOW = "Unnamed flow"


def deployment_count(count: int) -> str:
    """'1 deployment', '3 deployments'."""
    return ngettext("%(count)d deployment", "%(count)d deployments", count) % {"count": count}


# Run-queue priority: 1 runs first, 3 is normal; none means the flow's own priority applies.
PRIORITY_LABELS = {
    1: gettext_noop("1 — highest"),
    2: gettext_noop("2 — high"),
    3: gettext_noop("3 — normal"),
    4: gettext_noop("4 — low"),
    5: gettext_noop("5 — lowest"),
}
INHERITED_PRIORITY = gettext_noop("the flow's own")

# The fields an edit can change, in Patchworks' names, with the words a conflict names them by.
EDITABLE_FIELDS = {
    "virtual_environment_id": "environment",
    "priority": "priority",
    "enabled_at": "enabled at",
}


def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone called `name`, or None if there is no such zone."""
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


# Times people type are refused past this year: a far-future time in a zone behind UTC would
# overflow when converted for storage.
LATEST_YEAR = 2100
TOO_LATE = f"Choose a time before {LATEST_YEAR}."
