"""The worker's side of bulk jobs: run one when it is queued; take up stopped ones."""

from __future__ import annotations

import threading

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup

from deployments_ui.bulk import running
from deployments_ui.core import leases
from deployments_ui.core.leases import HOLDER
from deployments_ui.deployments.settling import interrupted_after

_start_lock = threading.Lock()
_started: list[bool] = []


@db_task()
def run_bulk_job(job_id: int) -> None:
    """Run one bulk job to its end (a job already taken by another consumer is left alone)."""
    running.run_job(job_id, holder=HOLDER)


@db_periodic_task(crontab(minute="*"))
def resume_bulk_jobs() -> None:
    """Every minute: take up jobs whose consumer stopped mid-run (never writing an item twice),
    and send (or drop) the items that waited for their job's change request. Stopped jobs are
    looked for again every `RESUME_EVERY` within the minute."""
    if leases.claim_run("periodic:bulk-resume", 60):
        running.resume_stalled(holder=HOLDER)
        running.release_decided(holder=HOLDER)
        step = int(running.RESUME_EVERY.total_seconds())
        for delay in range(step, 60, step):
            resume_stalled_jobs.schedule(delay=delay)


@on_startup()
def resume_after_start() -> None:
    """A consumer that starts takes up jobs left running by one that stopped, as soon as they
    count as stopped, rather than at the next minute. Once per process (the hook runs in every
    worker thread)."""
    with _start_lock:
        if _started:
            return
        _started.append(True)
    resume_stalled_jobs.schedule(delay=interrupted_after().total_seconds() + 2)


@db_task()
def resume_stalled_jobs() -> None:
    running.resume_stalled(holder=HOLDER)
