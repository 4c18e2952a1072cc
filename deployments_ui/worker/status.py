"""The background worker's health, as admins and /readyz see it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from deployments_ui.audit import stream
from deployments_ui.core import leases
from deployments_ui.drift import sync as drift

logger = logging.getLogger(__name__)

HEARTBEAT = "worker:heartbeat"
SEEN_WITHIN = timedelta(minutes=2)


@dataclass(frozen=True)
class WorkerStatus:
    last_heartbeat: datetime | None
    heartbeat_from: str
    queue_length: int | None
    scheduled_tasks: int | None
    last_drift_run: datetime | None
    streams: list[stream.StreamHealth] = field(default_factory=list)

    @property
    def seen_recently(self) -> bool:
        return worker_seen(self.last_heartbeat)


def beat(holder: str) -> None:
    leases.beat(HEARTBEAT, holder)


def last_heartbeat() -> datetime | None:
    return leases.last_completed(HEARTBEAT)


def worker_seen(heartbeat: datetime | None = None, now: datetime | None = None) -> bool:
    """Whether a consumer wrote a heartbeat within the last two minutes."""
    heartbeat = heartbeat if heartbeat is not None else last_heartbeat()
    return heartbeat is not None and (now or timezone.now()) - heartbeat <= SEEN_WITHIN


def worker_status() -> WorkerStatus:
    from deployments_ui.core.models import SyncLease

    row = SyncLease.objects.filter(name=HEARTBEAT).first()
    queued, scheduled = _queue_sizes()
    return WorkerStatus(
        last_heartbeat=row.completed_at if row else None,
        heartbeat_from=row.holder if row else "",
        queue_length=queued,
        scheduled_tasks=scheduled,
        last_drift_run=drift.last_finished(),
        streams=stream.health(),
    )


def _queue_sizes() -> tuple[int | None, int | None]:
    """Tasks waiting to run now, and tasks waiting for a later time; None if unreadable."""
    from huey.contrib.djhuey import HUEY

    try:
        return HUEY.pending_count(), HUEY.scheduled_count()
    except Exception:  # the storage may be unreachable; the page says so
        logger.warning("Could not read the task queue's length", exc_info=True)
        return None, None
