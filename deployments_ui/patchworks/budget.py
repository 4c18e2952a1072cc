"""The console's upstream budget: at most PATCHWORKS_REQUESTS_PER_MINUTE requests to Patchworks
in any minute, across every process, worker and machine of the console.

Patchworks allows a company a fixed number of requests a minute, shared with the company's own
integrations; the console spends only its configured share. The transport (`client._call`)
calls `take` before every request it sends, retries included.

The bucket is a GCRA ("generic cell rate algorithm") kept in one shared number, the
*theoretical arrival time* (TAT): each request pushes it `interval` seconds on, and a request may
go only while TAT is not too far ahead of now. That is a token bucket that needs one atomic
compare-and-set, which both shared stores do well: a Lua script in Redis (when REDIS_URL is
set), or one conditional UPDATE of a row in the database otherwise (every process of an install
shares its database; the default per-process memory cache would not be shared).

With a burst of B requests and an interval of window / (rate - B), no window of that length
ever holds more than `rate` requests. People's page views go first: a background request
(bulk jobs, drift detection) may go only while the bucket is full enough that half the burst
stays in reserve for people, so jobs wait whenever people are using the console.

A 429 pauses every request with that key for Patchworks' Retry-After (`pause`).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

INTERACTIVE = "interactive"
BACKGROUND = "background"
BUCKET = "patchworks-budget"
# The longest a person's page waits for the budget before being told Patchworks is busy.
INTERACTIVE_MAX_WAIT = 5.0

_priority: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "patchworks_priority", default=None
)
_process_default = [INTERACTIVE]
# Called now and then while background work waits for the budget (e.g. a job's heartbeat).
_on_wait: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "patchworks_on_wait", default=None
)


class BudgetExhausted(Exception):
    """A person's request would have waited too long for the budget; `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"upstream budget exhausted, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


# Priority ------------------------------------------------------------------------------------


@contextmanager
def background(on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Requests made inside are background work: they wait behind people's page views.

    `on_wait` is called about once a second while such a request waits (so that a long wait
    does not look like a stopped worker).
    """
    token = _priority.set(BACKGROUND)
    waiting = _on_wait.set(on_wait)
    try:
        yield
    finally:
        _on_wait.reset(waiting)
        _priority.reset(token)


def use_background_by_default() -> None:
    """Make every request of this process background work (the worker calls this at start)."""
    _process_default[0] = BACKGROUND


def current_priority() -> str:
    return _priority.get() or _process_default[0]


def key_name(api_key: str) -> str:
    """A name for an API key that reveals nothing about it (for pauses after a 429)."""
    return hashlib.sha256(str.__str__(api_key).encode()).hexdigest()[:24]


# Shape of the bucket ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    rate: int  # requests per window
    window: float  # seconds
    burst: int

    @classmethod
    def from_settings(cls) -> Shape | None:
        rate = int(settings.PATCHWORKS_REQUESTS_PER_MINUTE)
        if rate <= 0:
            return None
        burst = max(1, min(rate // 10, rate - 1)) if rate > 1 else 1
        return cls(rate=rate, window=float(settings.PATCHWORKS_BUDGET_WINDOW_SECONDS), burst=burst)

    @property
    def interval(self) -> float:
        # A hair over the exact spacing, so that rounding never lets rate + 1 into a window.
        return (
            self.window / max(1, self.rate - self.burst) * 1.001 if self.rate > 1 else self.window
        )

    @property
    def reserve(self) -> int:
        """Requests of the burst that background work leaves for people (half, at least one)."""
        return max(1, self.burst // 2)

    def tolerance(self, priority: str) -> float:
        """How far ahead of now TAT may be for a request of this priority to go. Background
        work may run a little ahead (to catch up after slow items) but never into the reserve."""
        if priority == BACKGROUND:
            return max(0, self.burst - 1 - self.reserve) * self.interval
        return (self.burst - 1) * self.interval


# Stores ----------------------------------------------------------------------------------------

_LUA_TAKE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return string.format('%.17g', pause - now) end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance + 1e-6 then return string.format('%.17g', tat - now - tolerance) end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.17g', tat + interval), 'PX', ttl)
return '0'
"""
_LUA_PAUSE = """
local until_ = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  local ttl = math.ceil(tonumber(ARGV[2]) * 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.17g', until_), 'PX', ttl)
end
return 1
"""


def _redis() -> tuple[RedisCache, Any] | None:
    """The Redis client behind Django's cache, when the cache is Redis; else None."""
    from django.core.cache import caches

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Django's RedisCache keeps its client factory private (and untyped).
        client = cast(Any, cache)._cache.get_client(write=True)
        return cache, client
    return None


def _try_take(shape: Shape, priority: str, key: str, now: float) -> float:
    """Take one request from the bucket: 0 if it may go now, else the seconds to wait."""
    redis = _redis()
    if redis is not None:
        cache, client = redis
        waited = client.eval(
            _LUA_TAKE,
            2,
            cache.make_and_validate_key(BUCKET),
            cache.make_and_validate_key(f"{BUCKET}:pause:{key}"),
            repr(now),
            repr(shape.interval),
            repr(shape.tolerance(priority)),
        )
        return float(waited)
    return _try_take_db(shape, priority, key, now)


def _try_take_db(shape: Shape, priority: str, key: str, now: float) -> float:
    from django.db.models import F, Value
    from django.db.models.functions import Greatest

    from deployments_ui.patchworks.models import UpstreamBudget

    rows = UpstreamBudget.objects.using(_database())
    paused = rows.filter(name=f"pause:{key}", tat__gt=now).values_list("tat", flat=True).first()
    if paused is not None:
        return paused - now
    # One statement: it succeeds only while TAT is within the tolerance, and moves TAT on.
    taken = rows.filter(name=BUCKET, tat__lte=now + shape.tolerance(priority) + 1e-6).update(
        tat=Greatest(F("tat"), Value(now)) + shape.interval
    )
    if taken:
        return 0.0
    tat = rows.filter(name=BUCKET).values_list("tat", flat=True).first()
    if tat is None:
        rows.get_or_create(name=BUCKET, defaults={"tat": 0.0})
        return _try_take_db(shape, priority, key, now)
    return max(0.001, tat - now - shape.tolerance(priority))


def _database() -> str:
    return "default"


# The calls the transport makes ---------------------------------------------------------------


def take(api_key_name: str, priority: str | None = None) -> float:
    """Wait until one request may be sent; returns the seconds waited.

    A person's request waits at most INTERACTIVE_MAX_WAIT, then BudgetExhausted; background
    work waits as long as it takes.
    """
    shape = Shape.from_settings()
    if shape is None:
        return 0.0
    priority = priority or current_priority()
    started = time.monotonic()
    while True:
        wait = _try_take(shape, priority, api_key_name, time.time())
        if wait <= 0:
            return time.monotonic() - started
        waited = time.monotonic() - started
        if priority == INTERACTIVE and waited + wait > INTERACTIVE_MAX_WAIT:
            raise BudgetExhausted(retry_after=wait)
        # Re-check at least every second: a background request can go as soon as the people's
        # reserve is back, and a pause may be lifted early by nobody, so sleep in small steps.
        time.sleep(min(wait, 1.0) if priority == BACKGROUND else wait)
        callback = _on_wait.get() if priority == BACKGROUND else None
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.exception("A budget wait callback failed")


def pause(api_key_name: str, seconds: float) -> None:
    """Patchworks answered 429: send nothing more with this key for `seconds`."""
    if seconds <= 0 or Shape.from_settings() is None:
        return
    until = time.time() + seconds
    logger.warning("Patchworks asked the console to wait %.0f s; pausing requests", seconds)
    redis = _redis()
    if redis is not None:
        cache, client = redis
        client.eval(
            _LUA_PAUSE,
            1,
            cache.make_and_validate_key(f"{BUCKET}:pause:{api_key_name}"),
            repr(until),
            repr(seconds),
        )
        return
    from deployments_ui.patchworks.models import UpstreamBudget

    rows = UpstreamBudget.objects.using(_database())
    name = f"pause:{api_key_name}"
    if not rows.filter(name=name, tat__lt=until).update(tat=until):
        rows.get_or_create(name=name, defaults={"tat": until})


def reset() -> None:
    """Forget the bucket and every pause (tests)."""
    redis = _redis()
    if redis is not None:
        cache, client = redis
        for key in client.scan_iter(match=cache.make_and_validate_key(f"{BUCKET}*")):
            client.delete(key)
    from deployments_ui.patchworks.models import UpstreamBudget

    UpstreamBudget.objects.using(_database()).all().delete()
