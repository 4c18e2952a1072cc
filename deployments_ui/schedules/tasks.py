"""The worker's side of scheduled changes: look for due ones every few seconds."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from deployments_ui.core.leases import HOLDER
from deployments_ui.schedules import applying


@db_task()
def apply_due_changes() -> int:
    """Apply every change that is due (and settle interrupted attempts); returns how many.

    Consumers run this every few seconds (see deployments_ui.worker.tasks); several at once are
    safe, because each change is claimed by one atomic status transition.
    """
    return applying.apply_due(holder=HOLDER)
