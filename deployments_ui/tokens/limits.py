"""Each token's own rate limit, so that one runaway script cannot take everyone's turn.

A fixed window of a minute per token, counted in the cache: shared by every process through
Redis when REDIS_URL is set, per process otherwise. A cache that does not answer lets the
request through: the company's Patchworks budget (`patchworks.budget`, where scripts come after
people) still holds.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

from deployments_ui.tokens.models import ApiToken

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60
PREFIX = "api-token-rate"
clock = time.time


def seconds_to_wait(token: ApiToken, now: float | None = None) -> int:
    """0 when this request may go (and counts it), else the seconds until the next window."""
    limit = int(settings.CONSOLE_API_TOKEN_REQUESTS_PER_MINUTE)
    if limit <= 0:
        return 0
    now = clock() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"{PREFIX}:{token.pk}:{window}"
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        used = cache.incr(key)
    except Exception:  # the cache is down or lost the key: let it through, the budget holds
        logger.warning("Could not count the requests of API token %s", token.pk, exc_info=True)
        return 0
    if used <= limit:
        return 0
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
