"""Shared reads: one upstream read serves everyone who asks for the same thing at once.

Patchworks gives the company one request budget, and twenty people watching the same list would
spend it twenty times over. So identical reads (same path and query, same Patchworks) are made
once: whoever asks first reads, the others wait for that answer instead of sending their own,
and the answer serves everyone for CONSOLE_SHARED_READ_SECONDS, refreshed in the background
while it is served. Across processes through Redis when REDIS_URL is set, within the process
otherwise; while Redis does not answer, nothing is shared (each read goes upstream).

- Every write the client makes, and every outside change drift detection records, bumps a
  generation number (`forget`), so that no page shows a state from before a change.
- When the budget is spent (or Patchworks says 429), a page is served from the last good answer
  of this generation, up to CONSOLE_SHARED_READ_FALLBACK_SECONDS old, with its age, instead of
  failing.
- Only a key that Patchworks accepted within CONSOLE_SHARED_READ_TRUST_SECONDS is served what
  others' keys read (a 401 withdraws that at once); any other key reads for itself, and gets no
  older answer when the budget is spent. People reading the same with such a key at once (the
  first minutes after a start, when no key is known yet) still wait for one read with that key.
- The read that guards a change (`budget.for_change`) and background work's reads (drift
  detection, jobs) always go upstream; people's pages may use their answers.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from deployments_ui.patchworks import budget, redis_health
from deployments_ui.patchworks.errors import RateLimited

logger = logging.getLogger(__name__)

PREFIX = "shared-read"
# How often a person waiting for someone else's read looks for its answer.
POLL_SECONDS = 0.02
# A claim on a read lapses after this long (its reader died): someone else reads then.
CLAIM_SECONDS = 20.0
# An answer this far into its few seconds is read again in the background while it serves.
REFRESH_AT = 0.8
# While an older answer can serve a page, a page waits at most this long for the budget.
PATIENCE_WITH_FALLBACK = 1.0
# Who shares answers: people's pages (and their extras), and scripts' reads through the API.
SHARING = (budget.INTERACTIVE, budget.SPARE, budget.SCRIPT)


@dataclass(frozen=True, slots=True)
class Answer:
    """One decoded answer of Patchworks and when it arrived (seconds since the epoch)."""

    body: Any
    fetched_at: float

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched_at)

    def dumps(self) -> str:
        return json.dumps({"at": self.fetched_at, "body": self.body}, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Answer | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(body=data["body"], fetched_at=float(data["at"]))


class StoreDown(Exception):
    """The shared store did not answer before anything was read: read without sharing."""


class _Store(Protocol):
    def generation(self) -> int: ...
    def bump(self) -> None: ...
    def get(self, name: str) -> Answer | None: ...
    def put(self, name: str, answer: Answer, seconds: float) -> None: ...
    def claim(self, name: str, seconds: float) -> bool: ...
    def claimed(self, name: str) -> bool: ...
    def release(self, name: str) -> None: ...
    def trusted(self, key_name: str) -> bool: ...
    def trust(self, key_name: str, seconds: float) -> None: ...
    def distrust(self, key_name: str) -> None: ...


# Settings --------------------------------------------------------------------------------------


def fresh_seconds() -> float:
    return float(settings.CONSOLE_SHARED_READ_SECONDS)


def fallback_seconds() -> float:
    return max(fresh_seconds(), float(settings.CONSOLE_SHARED_READ_FALLBACK_SECONDS))


def trust_seconds() -> float:
    return float(settings.CONSOLE_SHARED_READ_TRUST_SECONDS)


# The public calls ------------------------------------------------------------------------------


def read(key_name: str, path: str, params: Mapping[str, Any], fetch: Callable[[], Any]) -> Answer:
    """The answer to GET `path?params`: shared when it may be, else read with this key."""
    store = _store()
    if fresh_seconds() <= 0 or store is None:
        return Answer(fetch(), time.time())
    try:
        return _read(store, key_name, _name(path, params), fetch)
    except StoreDown:
        return Answer(fetch(), time.time())


def forget() -> None:
    """Drop every shared read at once (after a change): the next read of anything goes upstream.
    Every write of the client calls this; so does drift detection after an outside change."""
    store = _store()
    if store is not None:
        store.bump()


def trust(key_name: str) -> None:
    """Patchworks accepted this key just now: it may be served others' reads for a while."""
    store = _store()
    if store is None or fresh_seconds() <= 0 or _trusted_lately(key_name):
        return
    store.trust(key_name, trust_seconds())


def distrust(key_name: str) -> None:
    """Patchworks refused this key (401): from now on it reads only for itself."""
    _trusted_here.pop(key_name, None)
    store = _store()
    if store is not None:
        store.distrust(key_name)


def reset() -> None:
    """Forget every shared read and every trusted key (tests)."""
    _local.clear()
    _trusted_here.clear()
    redis = redis_health.redis_client()
    if redis is not None and redis_health.available():
        cache, client = redis
        for key in client.scan_iter(match=cache.make_and_validate_key(f"{PREFIX}*")):
            client.delete(key)


# Reading ---------------------------------------------------------------------------------------


def _name(path: str, params: Mapping[str, Any]) -> str:
    """The read's name: which Patchworks (one console serves one company), path and query."""
    query = sorted((str(key), str(value)) for key, value in params.items())
    text = json.dumps([settings.PATCHWORKS_BASE_URL, path, query])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read(store: _Store, key_name: str, digest: str, fetch: Callable[[], Any]) -> Answer:
    name = f"{store.generation()}:{digest}"
    if budget.current_priority() not in SHARING:
        # Changes and background work (drift, jobs) read for themselves (and let people use
        # the answer): no one else's answer is given.
        return _lead(store, name, fetch, fallback=None, claimed=False)
    if not store.trusted(key_name):
        # A key not known to work is given no one else's answer, nor any read before it asked;
        # but the people asking the same with it at once wait for one read with it (which, as
        # any, then serves everyone).
        return _once(store, f"{name}:{key_name}", fetch, known=False, also=name)
    return _once(store, name, fetch, known=True)


def _once(
    store: _Store, name: str, fetch: Callable[[], Any], *, known: bool, also: str | None = None
) -> Answer:
    """The fresh answer to `name` (for a key `known` to work), else the answer of the one read
    made for everyone asking at once; for a known key, an older answer when the budget is
    spent."""
    entry = store.get(name) if known else None
    if entry is not None and entry.age < fresh_seconds():
        if entry.age >= fresh_seconds() * REFRESH_AT:
            _refresh_soon(store, name, fetch)
        return entry
    deadline = time.monotonic() + _longest_wait()
    while time.monotonic() < deadline:
        if store.claim(name, CLAIM_SECONDS):
            return _lead(store, name, fetch, fallback=entry, claimed=True, also=also)
        answer = _answer_of_another(store, name, entry, deadline)
        if answer is not None:
            return answer
    # The read in flight never came back in time: read for ourselves.
    return _lead(store, name, fetch, fallback=entry, claimed=False, also=also)


def _longest_wait() -> float:
    """As long as a read in flight may take: the budget's wait plus Patchworks' timeouts."""
    return (
        budget.INTERACTIVE_MAX_WAIT
        + float(settings.PATCHWORKS_CONNECT_TIMEOUT)
        + float(settings.PATCHWORKS_READ_TIMEOUT)
    )


def _answer_of_another(
    store: _Store, name: str, older: Answer | None, deadline: float
) -> Answer | None:
    """Wait for the read someone else is making; None when they gave up without an answer.
    (Only the small claim is polled; the answer is fetched once, when the claim is let go.)"""
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        if store.claimed(name):
            continue
        answer = store.get(name)
        if answer is not None and (older is None or answer.fetched_at > older.fetched_at):
            return answer
        # The reader gave up (most likely the budget is spent): the older answer, if any.
        return older if older is not None and older.age <= fallback_seconds() else None
    return None


def _lead(
    store: _Store,
    name: str,
    fetch: Callable[[], Any],
    *,
    fallback: Answer | None,
    claimed: bool,
    also: str | None = None,
) -> Answer:
    """Read upstream and share the answer; when the budget is spent, the older answer. With
    `also` (the shared name), `name` is one key's own, kept only while the answer is fresh."""
    usable = fallback if fallback is not None and fallback.age <= fallback_seconds() else None
    try:
        with budget.patience(PATIENCE_WITH_FALLBACK) if usable else nullcontext():
            answer = Answer(fetch(), time.time())
        if also is not None:
            store.put(also, answer, fallback_seconds())
        # Before the claim goes: others wait on it.
        store.put(name, answer, fallback_seconds() if also is None else fresh_seconds())
        return answer
    except RateLimited:
        if usable is None:
            raise
        logger.info("Budget spent: a page is served an answer %.0f s old", usable.age)
        return usable
    finally:
        if claimed:
            store.release(name)


def _refresh_soon(store: _Store, name: str, fetch: Callable[[], Any]) -> None:
    """Read again in the background, while the answer still serves, if nobody else is."""
    if not store.claim(name, CLAIM_SECONDS):
        return
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(_refresh, store, name, fetch), daemon=True)
    thread.start()


def _refresh(store: _Store, name: str, fetch: Callable[[], Any]) -> None:
    from django.db import connection

    try:
        # Only if the budget has room right now: the answer being served is still fresh. (A
        # person's read a second early, not an extra: it takes people's share, never waiting.)
        with budget.patience(0.0):
            body = fetch()
        store.put(name, Answer(body, time.time()), fallback_seconds())
    except Exception as exc:  # the next person reads it themselves
        logger.info("A background refresh of a shared read failed: %s", type(exc).__name__)
    finally:
        store.release(name)
        connection.close()


# Stores ----------------------------------------------------------------------------------------


_trusted_here: dict[str, float] = {}
_seen_recoveries = [0]


def _trusted_lately(key_name: str) -> bool:
    """Whether this process marked the key trusted within the last tenth of the trust time
    (so that not every request writes to the store)."""
    now = time.monotonic()
    if _trusted_here.get(key_name, 0.0) > now:
        return True
    _trusted_here[key_name] = now + trust_seconds() / 10
    return False


def _store() -> _Store | None:
    """Redis when configured (None while it does not answer), else this process's memory."""
    redis = redis_health.redis_client()
    if redis is None:
        return _local
    if not redis_health.available():
        return None
    store = _RedisStore(*redis)
    if _seen_recoveries[0] != redis_health.recoveries():
        # Writes made while Redis was away bumped nothing: drop what was shared before.
        _seen_recoveries[0] = redis_health.recoveries()
        store.bump()
    return store


class _LocalStore:
    """Shared reads within one process (no Redis configured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self.clear()

    def clear(self) -> None:
        with self._lock:
            # On, never back: a read still in flight cannot land in the new generation.
            self._generation += 1
            self._answers: dict[str, tuple[Answer, float]] = {}
            self._claims: dict[str, float] = {}
            self._trusted: dict[str, float] = {}

    def generation(self) -> int:
        return self._generation

    def bump(self) -> None:
        with self._lock:
            self._generation += 1
            self._answers.clear()

    def get(self, name: str) -> Answer | None:
        answer, until = self._answers.get(name, (None, 0.0))
        return answer if until > time.monotonic() else None

    def put(self, name: str, answer: Answer, seconds: float) -> None:
        if not name.startswith(f"{self._generation}:"):
            return  # read before a change that has been made since
        with self._lock:
            self._drop_expired()
            self._answers[name] = (answer, time.monotonic() + seconds)

    def claim(self, name: str, seconds: float) -> bool:
        with self._lock:
            if self._claims.get(name, 0.0) > time.monotonic():
                return False
            self._claims[name] = time.monotonic() + seconds
            return True

    def claimed(self, name: str) -> bool:
        return self._claims.get(name, 0.0) > time.monotonic()

    def release(self, name: str) -> None:
        with self._lock:
            self._claims.pop(name, None)

    def trusted(self, key_name: str) -> bool:
        return self._trusted.get(key_name, 0.0) > time.monotonic()

    def trust(self, key_name: str, seconds: float) -> None:
        self._trusted[key_name] = time.monotonic() + seconds

    def distrust(self, key_name: str) -> None:
        self._trusted.pop(key_name, None)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for name in [name for name, (_, until) in self._answers.items() if until <= now]:
            del self._answers[name]


_local = _LocalStore()


class _RedisStore:
    """Shared reads across every process of the console, in Redis.

    Calls made before anything was read raise StoreDown when Redis does not answer (the caller
    reads without sharing); calls made after (sharing the answer, letting go of a claim) give up
    quietly.
    """

    def __init__(self, cache: Any, client: Any) -> None:
        self._cache = cache
        self._client = client

    def _key(self, name: str) -> str:
        return str(self._cache.make_and_validate_key(f"{PREFIX}:{name}"))

    def _ask(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except redis_health.REDIS_ERRORS as exc:
            redis_health.failed(exc)
            raise StoreDown() from None

    def _tell(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except redis_health.REDIS_ERRORS as exc:
            redis_health.failed(exc)

    def generation(self) -> int:
        return int(self._ask(lambda: self._client.get(self._key("generation"))) or 0)

    def bump(self) -> None:
        self._tell(lambda: self._client.incr(self._key("generation")))

    def get(self, name: str) -> Answer | None:
        return Answer.loads(self._ask(lambda: self._client.get(self._key(f"answer:{name}"))))

    def put(self, name: str, answer: Answer, seconds: float) -> None:
        key = self._key(f"answer:{name}")
        self._tell(lambda: self._client.set(key, answer.dumps(), px=int(seconds * 1000)))

    def claim(self, name: str, seconds: float) -> bool:
        key = self._key(f"claim:{name}")
        return bool(self._ask(lambda: self._client.set(key, 1, nx=True, px=int(seconds * 1000))))

    def claimed(self, name: str) -> bool:
        return bool(self._ask(lambda: self._client.exists(self._key(f"claim:{name}"))))

    def release(self, name: str) -> None:
        self._tell(lambda: self._client.delete(self._key(f"claim:{name}")))

    def trusted(self, key_name: str) -> bool:
        return bool(self._ask(lambda: self._client.exists(self._key(f"trust:{key_name}"))))

    def trust(self, key_name: str, seconds: float) -> None:
        key = self._key(f"trust:{key_name}")
        self._tell(lambda: self._client.set(key, 1, px=int(seconds * 1000)))

    def distrust(self, key_name: str) -> None:
        self._tell(lambda: self._client.delete(self._key(f"trust:{key_name}")))
