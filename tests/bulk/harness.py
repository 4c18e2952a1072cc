"""Set-up and read-back for the bulk test with a real `manage.py run_huey` consumer.

Run as `python -m tests.bulk.harness <command> ...` with the consumer's environment (see
tests/worker/harness.py). Prints JSON.
"""

from __future__ import annotations

import json
import sys

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User

    from deployments_ui import audit
    from deployments_ui.accounts.credentials import store_api_key
    from deployments_ui.bulk import services as bulk
    from deployments_ui.models import AuditEvent, BulkJob

    command = argv[0]
    if command == "start":
        action, pairs = argv[1], [pair.split(":") for pair in argv[2:]]
        user = User.objects.filter(username="ana").first()
        if user is None:
            user = User.objects.create_user("ana", first_name="Ana", last_name="Ops")
            user.groups.add(Group.objects.get(name="Operator"))
            store_api_key(user, "sandbox-key-operator")
        preview = bulk.preview_ids(user=user, action=action, pairs=[tuple(p) for p in pairs])
        job = bulk.start_job(
            actor=audit.Actor(user=user, username="ana", name="Ana Ops"),
            user=user,
            preview=preview,
            reason="end-to-end",
        )
        print(json.dumps({"job": job.pk}))
    elif command == "status":
        job = BulkJob.objects.order_by("-id").first()
        items = [
            {"deployment": item.deployment_id, "status": item.status, "message": item.message}
            for item in job.items.all()
        ]
        outcomes = list(
            AuditEvent.objects.filter(request_id=f"bulk-job-{job.pk}")
            .exclude(completes__isnull=True)
            .values_list("deployment_id", "outcome")
        )
        print(json.dumps({"status": job.status, "items": items, "outcomes": outcomes}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
