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

Changes go before page views: a person's write, and the read that guards it (`for_change`),
may use the last quarter of the burst, which page views leave alone, so that one person's
reloading never makes another person's change fail.

Scripts (the REST API, with a person's token) come after people: their requests, changes
included, leave the same reserve as background work, and like a page they wait only a few
seconds for the budget before being told to come back later (`script`).

A page's extras (a version number Patchworks left out) are `spare`: they go only while the
bucket is full, so they take only what nobody else is using, and never wait; the page goes
without.

A 429 pauses every request with that key for Patchworks' Retry-After (`pause`).

When Redis is configured but does not answer, people's requests are counted in the database
instead (seeded from the last count Redis gave, so the switch never lets a burst through), and
background work waits until Redis answers again; `degraded()` says so. On the way back, Redis
starts from the database's count.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from deployments_ui.core import overlap
from deployments_ui.patchworks import redis_health

logger = logging.getLogger(__name__)

INTERACTIVE = "interactive"
BACKGROUND = "background"
CHANGE = "change"
SCRIPT = "script"
SPARE = "spare"
BUCKET = "patchworks-budget"
# The longest a person's page waits for the budget before being told Patchworks is busy.
INTERACTIVE_MAX_WAIT = 5.0

_priority: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "patchworks_priority", default=None
)
_process_default = [INTERACTIVE]
# How long a person's request may wait for the budget (shorter when an older answer can serve).
_patience: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "patchworks_patience", default=None
)
# Called now and then while background work waits for the budget (e.g. a job's heartbeat).
_on_wait: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "patchworks_on_wait", default=None
)


class BudgetExhausted(Exception):
    """A person's request would have waited too long for the budget; `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"upstream budget exhausted, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


@dataclass
class Waited:
    """The seconds the requests made inside `measure_waits()` waited for the budget."""

    seconds: float = 0.0
    requests: int = 0


# The waits of the requests made inside `measure_waits()`.
_waits: contextvars.ContextVar[Waited | None] = contextvars.ContextVar(
    "patchworks_waits", default=None
)

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


@contextmanager
def script() -> Iterator[None]:
    """Requests made inside come from a script through the REST API: behind people's page views
    and changes, never into their reserve, but waiting no longer than a page would."""
    token = _priority.set(SCRIPT)
    try:
        yield
    finally:
        _priority.reset(token)


@contextmanager
def spare() -> Iterator[None]:
    """Requests made inside are a page's extras: they go only while the bucket is full (what
    nobody else is using), and never wait for it (BudgetExhausted at once)."""
    token = _priority.set(SPARE)
    try:
        yield
    finally:
        _priority.reset(token)


@contextmanager
def for_change() -> Iterator[None]:
    """Requests made inside are part of a person's change (the read that guards a write, the
    write): they may use the reserve page views leave, so reloading pages cannot starve them.
    Background work and scripts keep their place."""
    if current_priority() in (BACKGROUND, SCRIPT):
        yield
        return
    token = _priority.set(CHANGE)
    try:
        yield
    finally:
        _priority.reset(token)


@contextmanager
def patience(seconds: float) -> Iterator[None]:
    """A person's requests made inside wait at most `seconds` for the budget, and never longer
    than an enclosing `patience` allows (a read that must not wait stays so, whatever it calls)."""
    token = _patience.set(min(_patience_now(), max(0.0, seconds)))
    try:
        yield
    finally:
        _patience.reset(token)


@contextmanager
def measure_waits() -> Iterator[Waited]:
    """Add up how long the requests made inside waited for the budget (e.g. so that a scheduled
    change records its true lateness): `with measure_waits() as waited: ...; waited.seconds`."""
    waited = Waited()
    token = _waits.set(waited)
    try:
        yield waited
    finally:
        _waits.reset(token)


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

    @property
    def change_reserve(self) -> int:
        """Requests of the burst that page views leave for changes: a quarter, and at least the
        two a change needs (its guarding read and its write), when the burst has room."""
        return min(self.burst - 1, max(2, self.burst // 4)) if self.burst >= 3 else 0

    def tolerance(self, priority: str) -> float:
        """How far ahead of now TAT may be for a request of this priority to go. Background
        work may run a little ahead (to catch up after slow items) but never into the reserve;
        page views never into the changes' reserve; a page's extras only from a full bucket."""
        return self._slots(priority) * self.interval

    def _slots(self, priority: str) -> int:
        if priority == CHANGE:
            return self.burst - 1
        if priority == SPARE:
            return 0  # people arriving together find their whole share there
        views = self.burst - 1 - self.change_reserve
        if priority in (BACKGROUND, SCRIPT):
            return max(0, min(self.burst - 1 - self.reserve, views - 1))
        return views


# Stores ----------------------------------------------------------------------------------------

# Returns "<seconds to wait> <TAT>"; ARGV[4] is a floor for TAT (the database's count, on the
# way back from an outage).
_LUA_TAKE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if pause > now then return string.format('%.17g %.17g', pause - now, tat) end
if tat < floor then tat = floor end
if tat < now then tat = now end
if tat - now > tolerance + 1e-6 then
  return string.format('%.17g %.17g', tat - now - tolerance, tat)
end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.17g', tat + interval), 'PX', ttl)
return string.format('0 %.17g', tat + interval)
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
# While Redis does not answer, background work asks again this often.
BACKGROUND_RETRY = 1.0
# The TAT Redis last reported to this process (seeds the database's count in an outage), and
# the database's count when Redis answers again (its floor).
_last_seen = {"redis": 0.0, "floor": 0.0}


def _redis() -> tuple[RedisCache, Any] | None:
    """The Redis client behind Django's cache, when the cache is Redis; else None."""
    return redis_health.redis_client()


def degraded() -> bool:
    """Whether the shared budget is degraded: Redis is configured but not answering, so
    people's requests are counted in the database and background work waits."""
    return _redis_configured() and redis_health.degraded()


def counts_in_database() -> bool:
    """Whether taking from the budget now writes to the database (no Redis to count in): then
    only the request's own thread may take, since the request's connection is not another
    thread's."""
    if Shape.from_settings() is None:
        return False
    return _redis() is None or not redis_health.available()


def _redis_configured() -> bool:
    from django.core.cache import caches

    return isinstance(caches["default"], RedisCache)


def _try_take(shape: Shape, priority: str, key: str, now: float) -> float:
    """Take one request from the bucket: 0 if it may go now, else the seconds to wait."""
    redis = _redis()
    if redis is None:
        return _try_take_db(shape, priority, key, now)
    if redis_health.available():
        try:
            return _try_take_redis(redis, shape, priority, key, now)
        except redis_health.REDIS_ERRORS as exc:
            if overlap.elsewhere():
                raise overlap.OnlyOnRequestThread() from exc
            if redis_health.failed(exc):
                _seed_database(shape, now)
    if priority == BACKGROUND:
        return BACKGROUND_RETRY  # jobs pause until Redis answers again
    if overlap.elsewhere():
        raise overlap.OnlyOnRequestThread()
    return _try_take_db(shape, priority, key, now)


def _try_take_redis(
    redis: tuple[RedisCache, Any], shape: Shape, priority: str, key: str, now: float
) -> float:
    cache, client = redis
    answer = client.eval(
        _LUA_TAKE,
        2,
        cache.make_and_validate_key(BUCKET),
        cache.make_and_validate_key(f"{BUCKET}:pause:{key}"),
        repr(now),
        repr(shape.interval),
        repr(shape.tolerance(priority)),
        repr(_last_seen["floor"]),
    )
    if redis_health.answered():
        # Back from an outage: go on from the database's count, then ask again.
        _last_seen["floor"] = _database_tat() + shape.interval
        return _try_take_redis(redis, shape, priority, key, now)
    wait, tat = (
        float(part)
        for part in str(answer.decode() if isinstance(answer, bytes) else answer).split()
    )
    _last_seen["redis"] = max(_last_seen["redis"], tat)
    return wait


def _seed_database(shape: Shape, now: float) -> None:
    """Redis just stopped answering: start the database's count where Redis's was last seen,
    plus a full burst (requests this process did not see), and never below an empty bucket."""
    from django.db.models import Value
    from django.db.models.functions import Greatest

    from deployments_ui.patchworks.models import UpstreamBudget

    seed = max(_last_seen["redis"], now) + shape.burst * shape.interval
    rows = UpstreamBudget.objects.using(_database())
    if not rows.filter(name=BUCKET).update(tat=Greatest("tat", Value(seed))):
        rows.get_or_create(name=BUCKET, defaults={"tat": seed})


def _database_tat() -> float:
    from deployments_ui.patchworks.models import UpstreamBudget

    rows = UpstreamBudget.objects.using(_database())
    return rows.filter(name=BUCKET).values_list("tat", flat=True).first() or 0.0


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
    """Wait until one request may be sent; returns the seconds waited (also added to any
    `measure_waits()` around the call).

    A person's request (or change) waits at most INTERACTIVE_MAX_WAIT (or its `patience`), then
    BudgetExhausted; background work waits as long as it takes, Redis outages included.
    """
    shape = Shape.from_settings()
    if shape is None:
        return 0.0
    priority = priority or current_priority()
    started = time.monotonic()
    try:
        _wait_for(shape, priority, api_key_name, started)
    finally:
        _note_wait(time.monotonic() - started)
    return time.monotonic() - started


def _wait_for(shape: Shape, priority: str, api_key_name: str, started: float) -> None:
    while True:
        wait = _try_take(shape, priority, api_key_name, time.time())
        if wait <= 0:
            return
        waited = time.monotonic() - started
        if priority != BACKGROUND and waited + wait > _patience_now(priority):
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


def _patience_now(priority: str = INTERACTIVE) -> float:
    if priority == SPARE:
        return 0.0
    patience = _patience.get()
    return INTERACTIVE_MAX_WAIT if patience is None else patience


def _note_wait(seconds: float) -> None:
    waited = _waits.get()
    if waited is not None:
        waited.seconds += seconds
        waited.requests += 1


def pause(api_key_name: str, seconds: float) -> None:
    """Patchworks answered 429: send nothing more with this key for `seconds`."""
    if seconds <= 0 or Shape.from_settings() is None:
        return
    until = time.time() + seconds
    logger.warning("Patchworks asked the console to wait %.0f s; pausing requests", seconds)
    redis = _redis()
    if redis is not None and redis_health.available():
        cache, client = redis
        try:
            client.eval(
                _LUA_PAUSE,
                1,
                cache.make_and_validate_key(f"{BUCKET}:pause:{api_key_name}"),
                repr(until),
                repr(seconds),
            )
            return
        except redis_health.REDIS_ERRORS as exc:
            redis_health.failed(exc)
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
    _last_seen.update(redis=0.0, floor=0.0)
    redis_health.reset()
