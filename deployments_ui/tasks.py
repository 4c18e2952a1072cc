"""Where `manage.py run_huey` finds the console's tasks (it imports each app's `tasks`)."""

from deployments_ui.bulk.tasks import resume_bulk_jobs, run_bulk_job  # noqa: F401
from deployments_ui.notifications.tasks import (  # noqa: F401
    deliver_due,
    poll_deliveries,
    prune_deliveries,
)
from deployments_ui.schedules.tasks import apply_due_changes  # noqa: F401
from deployments_ui.worker.tasks import detect_drift, every_minute, housekeeping  # noqa: F401
