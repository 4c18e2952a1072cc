"""An upstream call sent from another thread while the request's own thread goes on.

A page that needs two independent reads sends both at once and waits for the slower, not for
one after the other; a change's one write is in flight while the page prepares its answer
(`alongside`). The call runs in a copy of the request's context (its request id, its budget
priority, its remembered key) and must not use the database: tests keep their data in one
connection, and the request's transaction is not the thread's.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from django.db import connections

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Long enough for the other thread to put its request on the wire before this one computes:
# both need the interpreter, and a busy thread would hold the request up.
HEAD_START_SECONDS = 0.002

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


def alongside(call: Callable[[], T], meanwhile: Callable[[], object]) -> T:
    """`call()`'s result, from another thread while `meanwhile()` runs in this one. A failure of
    `meanwhile` is logged, never raised: it must not hide how `call` ended."""
    answer = started(call)
    wait([answer], timeout=HEAD_START_SECONDS)
    try:
        meanwhile()
    except Exception:
        logger.exception("Work done while waiting for another thread failed")
    return answer.result()
