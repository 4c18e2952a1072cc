"""The worker's notification tasks: a nudge after each commit, and a poll that never forgets.

Huey tasks are only nudges: the deliveries are rows in the database, so a worker that was down
sends everything that waited when it comes back (the periodic poll finds them). In a consumer
they only wake its sender thread (`sender`), so that no delivery ever holds a consumer.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup

from deployments_ui.core import leases
from deployments_ui.notifications import sender, sending

logger = logging.getLogger(__name__)


@db_task()
def deliver_due() -> int:
    """Wake the sender thread (in a consumer: returns at once, 0), or, where none runs, send
    every delivery that is due here; returns how many were attempted."""
    if sender.running():
        sender.wake()
        return 0
    return sender.send_all()


@db_periodic_task(crontab(minute="*"))
def poll_deliveries() -> None:
    """Every minute: a consumer whose sender thread stopped gets a new one."""
    if sender.start():
        logger.warning("The notification sender thread was not running; started it again")
    sender.wake()


@db_periodic_task(crontab(minute="23"))
def prune_deliveries() -> None:
    """Hourly: finished deliveries older than the kept days leave the delivery logs."""
    if leases.claim_run("periodic:prune-deliveries", 3600):
        logger.info("Deleted %s old notification deliveries", sending.delete_finished())


@on_startup()
def send_what_waited() -> None:
    """A consumer that starts its sender thread, which first sends what waited while none ran
    (even if the nudges queued meanwhile were lost). Once per process: the hook runs in every
    worker thread."""
    sender.start()
