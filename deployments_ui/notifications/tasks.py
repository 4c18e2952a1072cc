"""The worker's notification tasks: a nudge after each commit, and a poll that never forgets.

Huey tasks are only nudges: the deliveries are rows in the database, so a worker that was down
sends everything that waited when it comes back (the periodic poll finds them).
"""

from __future__ import annotations

import logging
import threading

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup

from deployments_ui.core import leases
from deployments_ui.notifications import sending

logger = logging.getLogger(__name__)
POLL_EVERY = 15  # seconds between looks for due retries and digests within a minute
MAX_BATCHES = 20
_start_lock = threading.Lock()
_started: list[bool] = []


@db_task()
def deliver_due() -> int:
    """Send every delivery that is due; returns how many were attempted."""
    attempted = 0
    for _ in range(MAX_BATCHES):
        result = sending.deliver_due()
        count = result.sent + result.retrying + result.failed
        attempted += count
        if count < sending.BATCH:
            break
    return attempted


@db_periodic_task(crontab(minute="*"))
def poll_deliveries() -> None:
    """Every minute (one consumer claims it): look now and every POLL_EVERY seconds after."""
    if not leases.claim_run("periodic:notifications", 60):
        return
    deliver_due()
    for delay in range(POLL_EVERY, 60, POLL_EVERY):
        deliver_due.schedule(delay=delay)


@db_periodic_task(crontab(minute="23"))
def prune_deliveries() -> None:
    """Hourly: finished deliveries older than the kept days leave the delivery logs."""
    if leases.claim_run("periodic:prune-deliveries", 3600):
        logger.info("Deleted %s old notification deliveries", sending.delete_finished())


@on_startup()
def send_what_waited() -> None:
    """A consumer that starts sends what waited while none ran, without waiting for the minute
    to turn (even if the nudges queued meanwhile were lost). Once per process."""
    with _start_lock:
        if _started:
            return
        _started.append(True)
    deliver_due()
