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
import threading
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
_elsewhere: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "overlap_elsewhere", default=False
)


class OnlyOnRequestThread(Exception):
    """The call needed the database after all (e.g. Redis went away meanwhile): make it again
    on the request's own thread."""


def elsewhere() -> bool:
    """Whether this code runs in another thread for a request (where the database is not)."""
    return _elsewhere.get()


def started(call: Callable[[], T]) -> Future[T]:
    """`call()` running now in another thread; `.result()` waits for it (and raises its error)."""
    context = contextvars.copy_context()
    began = threading.Event()

    def run() -> T:
        began.set()
        try:
            return context.run(_marked, call)
        finally:
            connections.close_all()  # this thread's own, if anything opened one after all

    future = _pool.submit(run)
    # Wait until the call has begun: busy with the page, this thread would otherwise keep the
    # interpreter for a few milliseconds more before the call could even send its request.
    began.wait(timeout=0.05)
    return future


def result_here(future: Future[T], call: Callable[[], T]) -> T:
    """The future's result, or `call()` made on this thread when it could not be had there."""
    try:
        return future.result()
    except OnlyOnRequestThread:
        return call()


def _marked(call: Callable[[], T]) -> T:
    _elsewhere.set(True)
    return call()


def alongside(call: Callable[[], T], meanwhile: Callable[[], object]) -> T:
    """`call()`'s result, from another thread while `meanwhile()` runs in this one. A failure of
    `meanwhile` is logged, never raised: it must not hide how `call` ended."""
    answer = started(call)
    wait([answer], timeout=HEAD_START_SECONDS)
    try:
        meanwhile()
    except Exception:
        logger.exception("Work done while waiting for another thread failed")
    return result_here(answer, call)
