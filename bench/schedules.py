"""Scheduled changes: how late one Huey consumer applies 50 changes due in the same minute, and
how much memory the consumer holds.

    .venv/bin/python bench/schedules.py [--changes 50] [--poll 5]

Starts its own sandbox and production-like console (bench/stack.py), then one consumer
(`manage.py run_huey`, as `make run` and production start it). It asks for N changes on N
different deployments (each flips its deployment: enabled ones are disabled, disabled ones
enabled), all due at the start of the next minute but one, with the consumer already running;
waits until every change has finished; and reports lateness (when the change finished minus
when it was due) p50/p95/max, how many were applied, and the consumer's resident memory.
Budgets (DESIGN.md): p95 within 60 s with one consumer; a consumer under 100 MB resident.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PYTHON, REPO, Stack, machine, median, percentile, rss_mb, stack_arguments

LATENESS_BUDGET_S = 60.0
RSS_BUDGET_MB = 100.0

ASK = """
import json
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from deployments_ui.models import ScheduledChange
from deployments_ui.patchworks import PatchworksClient

count = {count}
user = User.objects.get(username="operator")
client = PatchworksClient("sandbox-key-operator")
deployments = client.list_deployments(per_page=100).items[:count]
now = timezone.now()
due = (now + timedelta(seconds=75)).replace(second=0, microsecond=0)
for deployment in deployments:
    ScheduledChange.objects.create(
        deployment_id=deployment.id,
        flow_version_id=deployment.flow_version_id,
        flow_name=deployment.flow_name or "",
        environment_name=deployment.environment_name or "",
        action="disable" if deployment.is_enabled else "enable",
        due_at=due,
        requested_by=user,
        requested_by_name="Oscar Operator",
        time_zone="UTC",
    )
print(json.dumps({{"due_at": due.isoformat(), "asked": len(deployments)}}))
"""

STATUS = """
import json
from deployments_ui.models import ScheduledChange
rows = [
    {{
        "status": c.status,
        "late": (c.applied_at - c.due_at).total_seconds() if c.applied_at else None,
        "message": c.result_message,
    }}
    for c in ScheduledChange.objects.all()
]
print(json.dumps(rows))
"""


def shell(stack: Stack, code: str) -> object:
    output = stack.manage("shell", "-c", code)
    return json.loads([line for line in output.splitlines() if line.startswith(("{", "["))][-1])


def main() -> None:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--poll", type=int, default=5, help="CONSOLE_SCHEDULE_POLL_SECONDS")
    args = parser.parse_args()
    extra = {"CONSOLE_SCHEDULE_POLL_SECONDS": str(args.poll)}
    with Stack.from_args(args, extra_env=extra) as stack:
        env = {**stack._console_env, "HUEY_SQLITE_PATH": str(stack.workdir / "huey.sqlite3")}
        log = (stack.workdir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [PYTHON, "manage.py", "run_huey"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        stack.processes.append(worker)
        try:
            asked = shell(stack, ASK.format(count=args.changes))
            print(f"asked for {asked['asked']} changes due at {asked['due_at']}", file=sys.stderr)
            rss_idle = rss_mb(worker.pid)
            deadline = time.monotonic() + 240
            while True:
                rows = shell(stack, STATUS.format())
                if all(row["status"] not in ("pending", "applying") for row in rows):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"not all changes finished in time: {rows}")
                time.sleep(2)
            rss_after = rss_mb(worker.pid)
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
    late = [row["late"] for row in rows if row["late"] is not None]
    applied = sum(1 for row in rows if row["status"] == "applied")
    others = sorted({row["message"] for row in rows if row["status"] != "applied"})
    for message in others:
        print(f"not applied: {message}", file=sys.stderr)
    p95 = percentile(late, 0.95)
    print(
        f"schedules: {len(rows)} changes due in the same minute, one consumer, poll {args.poll} s: "
        f"lateness p50 {median(late):.1f} s, p95 {p95:.1f} s, max {max(late):.1f} s "
        f"({'met' if p95 <= LATENESS_BUDGET_S else 'MISSED'} {LATENESS_BUDGET_S:.0f} s); "
        f"{applied}/{len(rows)} applied; consumer RSS {rss_idle:.0f} MB idle, "
        f"{rss_after:.0f} MB after ({'met' if rss_after <= RSS_BUDGET_MB else 'MISSED'} "
        f"{RSS_BUDGET_MB:.0f} MB); {machine()}"
    )


if __name__ == "__main__":
    main()
