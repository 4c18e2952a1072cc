"""Periodic work on the Huey consumer: heartbeat, scheduled changes, drift, housekeeping.

Every consumer's scheduler fires the periodic tasks; a claim in the database
(`leases.claim_run`) lets exactly one of them do each period's work, however many run.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup

from deployments_ui.accounts import credentials
from deployments_ui.audit import stream
from deployments_ui.core import leases
from deployments_ui.core.leases import HOLDER
from deployments_ui.deployments import settling
from deployments_ui.drift import sync as drift
from deployments_ui.flow_health import read_board
from deployments_ui.notifications import health as flow_notices
from deployments_ui.patchworks import PatchworksClient, budget
from deployments_ui.schedules import applying
from deployments_ui.schedules.tasks import apply_due_changes
from deployments_ui.worker import status

logger = logging.getLogger(__name__)
SETTLE_EVERY = 20
_start_lock = threading.Lock()
_started: list[bool] = []


@db_periodic_task(crontab(minute="*"))
def every_minute() -> None:
    """Heartbeat; the minute's polls for due changes; drift detection; the audit stream."""
    status.beat(HOLDER)
    if leases.claim_run("periodic:schedule-polls", 60):
        _poll_for(60)
    if leases.claim_run("periodic:drift", 60):
        detect_drift()
    if leases.claim_run("periodic:settle", 60):
        # Every SETTLE_EVERY seconds: an attempt is settled within a minute of its write ending.
        settle_unknown()
        for delay in range(SETTLE_EVERY, 60, SETTLE_EVERY):
            settle_unknown.schedule(delay=delay)
    if settings.CONSOLE_AUDIT_STREAM and leases.claim_run("periodic:audit-stream", 60):
        stream_audit()


@db_task()
def settle_unknown() -> None:
    """Writes whose outcome is not known (no answer in time, or a stopped worker): read each
    deployment and record whether the change happened."""
    with budget.background():
        settled = settling.settle_unfinished()
    if settled:
        logger.info("Settled %s writes whose outcome was not known", settled)


@db_task()
def stream_audit() -> None:
    """Send each audit stream destination the events it has not had yet (bounded in time)."""
    for report in stream.deliver():
        if report.error:
            logger.warning("Audit stream: %s", report.error)


@db_task()
def detect_drift() -> None:
    """Drift detection's run for this minute (its own lease keeps runs from overlapping)."""
    try:
        with budget.background():
            result = drift.sync_deployments()
    except drift.SyncError as error:
        logger.warning("Drift detection did not run: %s", error)
        return
    if not result.skipped:
        logger.info("Drift detection: %s deployments seen, %s changes", result.seen, result.changes)
        watch_flow_health(result.deployments)


def watch_flow_health(deployments: list) -> int:
    """Every few minutes, from the deployments drift detection just read: one runs request for
    the live, enabled ones, and a message to whoever asked when one started failing or stopped
    running (told once). Returns how many deliveries were written."""
    live = flow_notices.watched(deployments)
    every = settings.CONSOLE_FLOW_HEALTH_WATCH_MINUTES * 60
    if not live or every <= 0 or not settings.CONSOLE_FLOW_HEALTH_ENABLED:
        return 0
    if not leases.claim_run("periodic:flow-health", every):
        return 0
    with budget.background():
        board = read_board(PatchworksClient(credentials.service_api_key()), live)
    return flow_notices.tell_changes(board, live)


@db_periodic_task(crontab(minute="17"))
def housekeeping() -> None:
    """Hourly: expired sessions, and finished scheduled changes older than the kept days."""
    if not leases.claim_run("periodic:housekeeping", 3600):
        return
    call_command("clearsessions")
    deleted = applying.delete_finished()
    logger.info("Housekeeping: expired sessions cleared, %s old scheduled changes deleted", deleted)


def _poll_for(seconds: int) -> None:
    """Look for due changes now and every few seconds for the next `seconds`."""
    poll = max(1, settings.CONSOLE_SCHEDULE_POLL_SECONDS)
    apply_due_changes()
    for delay in range(poll, seconds, poll):
        apply_due_changes.schedule(delay=delay)


@on_startup()
def catch_up() -> None:
    """A consumer that starts applies what fell due while none ran, and keeps looking until its
    first periodic run, instead of waiting for the minute to turn. Once per process (the hook
    runs in every worker thread)."""
    budget.use_background_by_default()  # the worker's requests wait behind people's pages
    with _start_lock:
        if _started:
            return
        _started.append(True)
    leases.mark_consumer_started()
    status.beat(HOLDER)
    _poll_for(61 - timezone.now().second)
