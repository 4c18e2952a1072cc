"""The plan's allowance of running flows, as far as Patchworks has told it.

Patchworks publishes no allowance endpoint; its refusal of an enable may name the plan's number
("Your plan allows 5 active flows"). The client remembers that number here, and the deployment
page shows it with the headroom left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache

from deployments_ui.patchworks.errors import AllowanceUsedUp

CACHE_KEY = "patchworks:allowance"
KEEP_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Allowance:
    limit: int
    said_at: float  # seconds since the epoch


def heard(refusal: AllowanceUsedUp) -> None:
    """Remember the plan's number from a refusal that named it."""
    if refusal.limit is not None:
        cache.set(CACHE_KEY, {"limit": refusal.limit, "at": time.time()}, KEEP_SECONDS)


def told() -> Allowance | None:
    """The last number Patchworks named, if any (kept 30 days)."""
    found = cache.get(CACHE_KEY)
    if not isinstance(found, dict) or not isinstance(found.get("limit"), int):
        return None
    return Allowance(found["limit"], float(found.get("at") or 0))
