"""Set-up and read-back for the tests that run a real `manage.py run_huey` consumer.

Run as `python -m tests.worker.harness <command> ...` with the consumer's environment (its own
SQLite database and queue file), so that the test, the consumer and this script share one
database without the test process holding it open. Prints JSON.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from deployments_ui import audit
    from deployments_ui.accounts.credentials import store_api_key
    from deployments_ui.deployments import reads
    from deployments_ui.models import AuditEvent, ScheduledChange
    from deployments_ui.schedules import services as schedules

    command = argv[0]
    if command == "schedule":
        flow_version, deployment, action, seconds = argv[1], argv[2], argv[3], float(argv[4])
        user = User.objects.filter(username="ana").first()
        if user is None:
            user = User.objects.create_user("ana", first_name="Ana", last_name="Ops")
            user.groups.add(Group.objects.get(name="Operator"))
            store_api_key(user, "sandbox-key-operator")
        found = reads.deployment_get(
            user=user, flow_version_id=flow_version, deployment_id=deployment
        )
        asked = schedules.schedule_change(
            actor=audit.Actor(user=user, username="ana", name="Ana Ops"),
            user=user,
            deployment=found,
            action=action,
            at=timezone.now() + timedelta(seconds=seconds),
            reason="end-to-end",
        )
        print(json.dumps({"ids": [change.pk for change in asked.changes]}))
    elif command == "status":
        changes = [
            {
                "id": change.pk,
                "status": change.status,
                "message": change.result_message,
                "lateness": change.lateness_seconds,
                "due_at": change.due_at.isoformat(),
                "applied_at": change.applied_at.isoformat() if change.applied_at else None,
            }
            for change in ScheduledChange.objects.order_by("id")
        ]
        events = [
            audit.describe(event)
            for event in AuditEvent.objects.filter(completes__isnull=True).order_by("id")
        ]
        print(json.dumps({"changes": changes, "events": events}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
