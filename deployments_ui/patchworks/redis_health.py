"""Whether the console's Redis answers, and a cache that keeps pages working when it does not.

Redis holds the shared budget, the shared reads, the session cache and the pickers. When it
stops answering, every caller here notes it (`failed`), and for `RETRY_SECONDS` nobody tries it
again (a refused connection is quick, but a silent one costs a timeout per call). Meanwhile the
budget counts in the database, shared reads are off, and the cache answers "nothing cached".
`degraded()` says so, for the banner Admins see.

The state is per process: each process finds out for itself on its next call.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, cast

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What "Redis is not answering" looks like from redis-py.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# After a failure, Redis is left alone this long before the next try.
RETRY_SECONDS = 2.0

_lock = threading.Lock()
_state = {"down_since": 0.0, "retry_at": 0.0, "recoveries": 0.0}


def redis_client() -> tuple[RedisCache, Any] | None:
    """Django's default cache and its Redis client, when the cache is Redis; else None."""
    from django.core.cache import caches

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Django's RedisCache keeps its client factory private (and untyped).
        client = cast(Any, cache)._cache.get_client(write=True)
        return cache, client
    return None


def available() -> bool:
    """Whether Redis may be tried now (it has not failed in the last RETRY_SECONDS)."""
    return time.monotonic() >= _state["retry_at"]


def failed(exc: BaseException | None = None) -> bool:
    """A call to Redis failed to get an answer; True if it had answered until now."""
    with _lock:
        now = time.monotonic()
        _state["retry_at"] = now + RETRY_SECONDS
        if not _state["down_since"]:
            _state["down_since"] = now
            logger.warning(
                "Redis is not answering (%s); the console keeps going without it",
                type(exc).__name__ if exc else "no answer",
            )
            return True
        return False


def answered() -> bool:
    """A call to Redis got an answer; True the first time after it had failed (a recovery)."""
    if not _state["down_since"]:
        return False
    with _lock:
        if not _state["down_since"]:
            return False
        _state["down_since"] = 0.0
        _state["retry_at"] = 0.0
        _state["recoveries"] += 1
    logger.warning("Redis answers again")
    return True


def degraded() -> bool:
    """Whether this process last found Redis not answering (the shared budget is degraded)."""
    return bool(_state["down_since"])


def recoveries() -> int:
    """How many times this process has seen Redis answer again after failing."""
    return int(_state["recoveries"])


def reset() -> None:
    """Forget any failure (tests)."""
    with _lock:
        _state.update(down_since=0.0, retry_at=0.0)


class _ResilientClient(RedisCacheClient):
    """Django's Redis cache client, answering "nothing cached" while Redis is unreachable."""

    def _guarded(self, name: str, default: Any, *args: Any) -> Any:
        if not available():
            return default
        try:
            result = getattr(super(), name)(*args)
        except REDIS_ERRORS as exc:
            failed(exc)
            return default
        answered()
        return result

    def add(self, key: Any, value: Any, timeout: Any) -> Any:
        return self._guarded("add", False, key, value, timeout)

    def get(self, key: Any, default: Any) -> Any:
        return self._guarded("get", default, key, default)

    def set(self, key: Any, value: Any, timeout: Any) -> Any:
        return self._guarded("set", None, key, value, timeout)

    def touch(self, key: Any, timeout: Any) -> Any:
        return self._guarded("touch", False, key, timeout)

    def delete(self, key: Any) -> Any:
        return self._guarded("delete", False, key)

    def get_many(self, keys: Any) -> Any:
        return self._guarded("get_many", {}, keys)

    def has_key(self, key: Any) -> Any:
        return self._guarded("has_key", False, key)

    def incr(self, key: Any, delta: Any) -> Any:
        # Nothing to count from: as if the key had expired (callers start again at 1).
        missing = object()
        counted = self._guarded("incr", missing, key, delta)  # (ValueError passes through)
        if counted is missing:
            raise ValueError("Key not found (the cache is not answering).")
        return counted

    def set_many(self, data: Any, timeout: Any) -> Any:
        return self._guarded("set_many", [], data, timeout)

    def delete_many(self, keys: Any) -> Any:
        return self._guarded("delete_many", None, keys)

    def clear(self) -> Any:
        return self._guarded("clear", False)


class ResilientRedisCache(RedisCache):
    """The default cache when REDIS_URL is set: a page never fails because Redis is gone.

    While it is gone, `incr` says the key is missing (ValueError), as after an expiry: the
    sign-in lockout then counts from 1 again (django-axes still counts in the database).
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ResilientClient
