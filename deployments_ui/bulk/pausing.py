"""A bulk job pausing while Patchworks is busy, instead of failing its items.

A 429 means Patchworks did not act: the item goes again once its Retry-After has passed (the
budget holds every request with that key back that long). A 503 means Patchworks is not
answering properly: the job waits, twice as long each time up to `LONGEST_WAIT`, and the item
fails only once Patchworks has stayed unavailable for `UNAVAILABLE_PATIENCE`. Both are bounded,
so a job never waits for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeGuard

from deployments_ui.patchworks import PatchworksError, RateLimited

FIRST_WAIT = 2.0
LONGEST_WAIT = 30.0
UNAVAILABLE_PATIENCE = 120.0
RATE_LIMITED_PATIENCE = 600.0


def is_busy(error: Exception) -> TypeGuard[PatchworksError]:
    """Whether Patchworks said it did not act and to come back later (429, 503)."""
    if not isinstance(error, PatchworksError) or error.written or error.outcome_unknown:
        return False
    return isinstance(error, RateLimited) or error.status == 503


def waiting_words(error: PatchworksError) -> str:
    if isinstance(error, RateLimited):
        return "Waiting: Patchworks asked the console to slow down; it is tried again shortly."
    return "Waiting: Patchworks is not answering properly (error 503); it is tried again shortly."


class Backoff:
    """The job's waits while Patchworks stays busy; `done()` once a request went through."""

    def __init__(self, beat: Callable[[], None], sleep: Callable[[float], None] = time.sleep):
        self.beat = beat
        self.sleep = sleep
        self.done()

    def done(self) -> None:
        self.since: float | None = None
        self.next_wait = FIRST_WAIT

    def wait(self, error: PatchworksError) -> bool:
        """Wait before trying again; False when Patchworks has been busy for too long."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        limited = isinstance(error, RateLimited)
        patience = RATE_LIMITED_PATIENCE if limited else UNAVAILABLE_PATIENCE
        if now - self.since >= patience:
            return False
        # After a 429 the budget holds the next request back for Retry-After; wait a moment only.
        seconds = 1.0 if limited else self.next_wait
        self.next_wait = min(self.next_wait * 2, LONGEST_WAIT)
        waited = 0.0
        while waited < seconds:
            step = min(1.0, seconds - waited)
            self.sleep(step)
            waited += step
            self.beat()
        return True
