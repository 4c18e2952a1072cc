"""Deliveries never hold a Huey consumer: in the worker, a thread of their own sends them.

A post may take up to its deadline (CONSOLE_WEBHOOK_TIMEOUT) and a batch holds many, while
scheduled changes, bulk items and drift detection wait for a free consumer in the same queue.
So in a consumer process the `deliver_due` task only wakes this thread, which holds no consumer,
and returns at once; the thread also looks every `POLL_EVERY` seconds on its own. Where no
thread runs (a web process, or tests, which run tasks at once in the caller), the task sends
the deliveries itself.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connections

from deployments_ui.notifications import sending

logger = logging.getLogger(__name__)

POLL_EVERY = 15.0  # seconds between looks for due retries and digests
MAX_BATCHES = 20


class _Sender:
    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.looks = 0  # how many times the thread has looked for due deliveries


_sender = _Sender()


def send_all() -> int:
    """Send every delivery that is due, a batch at a time; returns how many were attempted."""
    attempted = 0
    for _ in range(MAX_BATCHES):
        result = sending.deliver_due()
        count = result.sent + result.retrying + result.failed
        attempted += count
        if count < sending.BATCH:
            break
    return attempted


def start() -> bool:
    """Start this process's sender thread (once); it first sends what waited. True if it was
    started now."""
    with _sender.lock:
        if running():
            return False
        _sender.stopping.clear()
        _sender.wake.set()
        _sender.thread = threading.Thread(target=_run, name="webhook-sender", daemon=True)
        _sender.thread.start()
        return True


def running() -> bool:
    thread = _sender.thread
    return thread is not None and thread.is_alive() and not _sender.stopping.is_set()


def looks() -> int:
    return _sender.looks


def wake() -> None:
    _sender.wake.set()


def stop(timeout: float = 30.0) -> None:
    """Stop the thread after the post in hand (for tests and a clean shutdown)."""
    _sender.stopping.set()
    _sender.wake.set()
    thread = _sender.thread
    if thread is not None:
        thread.join(timeout)


def _run() -> None:
    try:
        while not _sender.stopping.is_set():
            _sender.wake.wait(POLL_EVERY)
            _sender.wake.clear()
            if _sender.stopping.is_set():
                break
            _look()
    finally:
        connections.close_all()  # a thread's connection outlives the thread otherwise


def _look() -> None:
    close_old_connections()
    try:
        send_all()
    except Exception:  # the next look tries again; a delivery is never lost
        logger.exception("Sending notifications failed")
    finally:
        _sender.looks += 1
        close_old_connections()
