"""An upstream read sent from another thread while the request's own thread goes on.

A page that needs two independent reads sends both at once and waits for the slower, not for
one after the other. The call runs in a copy of the request's context (its request id, its
budget priority, its remembered key) and must not use the database: tests keep their data in
one connection, and the request's transaction is not the thread's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-read")


def started(call: Callable[[], T]) -> Future[T]:
    """`call()` running now in another thread; `.result()` waits for it (and raises its error)."""
    context = contextvars.copy_context()

    def run() -> T:
        try:
            return context.run(call)
        finally:
            connections.close_all()  # this thread's own, if anything opened one after all

    return _pool.submit(run)
