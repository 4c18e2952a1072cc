"""Set-up and read-back for the fault tests, run as `python -m tests.faults.harness <command>`
with the stack's environment straight to PostgreSQL and Redis (never through the proxies the
tests cut). Prints one line of JSON.

    setup                          the people the tests sign in as
    bulk <action> <fv:id>...       start a bulk job as Fay (queued for the worker)
    schedule <fv> <id> <action> <seconds>   a change due in that many seconds
    report                         every write attempt with its outcome, jobs, schedules, chain
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import django

PASSWORD = "fault-test-password"  # a throwaway test database's person
PERSON = "fay"


def main(argv: list[str]) -> None:
    django.setup()
    command, args = argv[0], argv[1:]
    print(json.dumps(COMMANDS[command](*args)))


def setup() -> dict:
    from django.contrib.auth.models import Group, User

    from deployments_ui.accounts.credentials import store_api_key

    user = User.objects.filter(username=PERSON).first()
    if user is None:
        user = User.objects.create_user(PERSON, first_name="Fay", last_name="Faults")
        user.set_password(PASSWORD)
        user.save()
        user.groups.add(Group.objects.get(name="Operator"))
        store_api_key(user, "sandbox-key-operator")
    return {"user": user.pk}


def _fay():
    from django.contrib.auth.models import User

    from deployments_ui import audit

    user = User.objects.get(username=PERSON)
    return user, audit.Actor(user=user, username=PERSON, name="Fay Faults")


def bulk(action: str, *pairs: str) -> dict:
    from deployments_ui.bulk import services

    user, actor = _fay()
    chosen = [tuple(pair.split(":")) for pair in pairs]
    preview = services.preview_ids(user=user, action=action, pairs=chosen)  # type: ignore[arg-type]
    job = services.start_job(actor=actor, user=user, preview=preview, reason="fault test")
    return {"job": job.pk}


def schedule(flow_version: str, deployment: str, action: str, seconds: str) -> dict:
    from django.utils import timezone

    from deployments_ui.deployments import reads
    from deployments_ui.schedules import services

    user, actor = _fay()
    found = reads.deployment_get(user=user, flow_version_id=flow_version, deployment_id=deployment)
    asked = services.schedule_change(
        actor=actor,
        user=user,
        deployment=found,
        action=action,
        at=timezone.now() + timedelta(seconds=float(seconds)),
        reason="fault test",
    )
    return {"ids": [change.pk for change in asked.changes]}


def report() -> dict:
    from deployments_ui.audit import verify_chain
    from deployments_ui.models import AuditEvent, BulkJob, ScheduledChange

    attempts = []
    for attempt in AuditEvent.objects.filter(outcome="pending", completes__isnull=True).order_by(
        "id"
    ):
        results = list(attempt.results.order_by("id").values_list("outcome", flat=True))
        known = [outcome for outcome in results if outcome in ("succeeded", "failed")]
        attempts.append(
            {
                "id": attempt.pk,
                "action": attempt.action,
                "deployment": attempt.deployment_id,
                "request": attempt.request_id,
                "outcome": known[-1] if known else (results[-1] if results else None),
            }
        )
    jobs = {
        job.pk: {
            "status": job.status,
            "items": dict(job.items.values_list("deployment_id", "status")),
        }
        for job in BulkJob.objects.all()
    }
    changes = {
        change.pk: {"status": change.status, "message": change.result_message}
        for change in ScheduledChange.objects.all()
    }
    chain = verify_chain()
    return {
        "attempts": attempts,
        "jobs": jobs,
        "changes": changes,
        "chain_ok": chain.ok,
        "chain_checked": chain.checked,
        "chain_problem": chain.problem,
    }


COMMANDS = {"setup": setup, "bulk": bulk, "schedule": schedule, "report": report}

if __name__ == "__main__":
    main(sys.argv[1:])
