"""The worker's memory over a long run: many ticks of its periodic work, RSS after each, and
what tracemalloc sees growing.

    .venv/bin/python bench/worker_memory.py [--ticks 300]            # RSS only
    .venv/bin/python bench/worker_memory.py --ticks 60 --top 12      # and what grew (tracemalloc)

Starts its own sandbox and production-like console (bench/stack.py; the console only prepares
the database and the demo people), then one process that runs the worker's minute, tick after
tick, without waiting for the clock: the heartbeat, due scheduled changes (one asked for each
tick), drift detection over every deployment (one deployment changed outside the console each
tick, so drift records it and notifies), settling, taking up stopped bulk jobs and the
notification deliveries. Each tick is what a consumer does in one minute, so 300 ticks are five
hours of a worker's life. Reports the RSS after the warm-up and at the end, the growth per 100
ticks, and the allocations that grew most. Budget (DESIGN.md): a worker under 100 MB resident.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PYTHON, REPO, Stack, machine, stack_arguments

RSS_BUDGET_MB = 100.0
WARM_UP = 20

TICKS = r"""
import json, sys, time, tracemalloc
from datetime import timedelta
from pathlib import Path

import django
django.setup()
import requests
from django.contrib.auth.models import User
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.bulk import tasks as bulk_tasks
from deployments_ui.core import leases
from deployments_ui.core.leases import HOLDER
from deployments_ui.deployments import reads
from deployments_ui.notifications import tasks as notification_tasks
from deployments_ui.patchworks import budget
from deployments_ui.schedules import services as schedules
from deployments_ui.schedules.tasks import apply_due_changes
from deployments_ui.worker import status
from deployments_ui.worker import tasks as worker_tasks

ticks, warm_up, top, sandbox = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
trace = top > 0  # tracemalloc's own bookkeeping grows RSS: measure RSS without it
leases.claim_run = lambda *args, **kwargs: True  # every tick is a new minute
budget.use_background_by_default()
user = User.objects.get(username="operator")
actor = audit.Actor(user=user, username="operator", name="Operator")
outside = requests.Session()
outside.headers.update({"Authorization": "sandbox-demo-key", "Accept": "application/json"})
listed = outside.get(f"{sandbox}/api/v1/flow-version-deployments?per_page=100&filter[global]=0")
deployments = listed.json()["data"]


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def tick(number):
    item = deployments[number % len(deployments)]
    # A change made outside the console: drift records it and notifies.
    path = f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}"
    state = outside.get(f"{sandbox}{path}").json()["data"]
    outside.post(f"{sandbox}{path}/{'disable' if state['enabled_at'] else 'enable'}")
    # A scheduled change due now, applied by the tick.
    other = deployments[(number + len(deployments) // 2) % len(deployments)]
    found = reads.deployment_get(
        user=user, flow_version_id=other["flow_version_id"], deployment_id=other["id"]
    )
    schedules.schedule_change(
        actor=actor, user=user, deployment=found,
        action="disable" if found.is_enabled else "enable",
        at=timezone.now() + timedelta(seconds=1), reason="memory bench",
    )
    time.sleep(1)
    status.beat(HOLDER)
    apply_due_changes.call_local()
    worker_tasks.detect_drift.call_local()
    worker_tasks.settle_unknown.call_local()
    bulk_tasks.resume_bulk_jobs.call_local()
    notification_tasks.deliver_due.call_local()


samples = []
ready_rss = rss_mb()
for number in range(ticks):
    if number == warm_up:
        if trace:
            tracemalloc.start(12)
            before = tracemalloc.take_snapshot()
        start_rss = rss_mb()
    tick(number)
    samples.append(rss_mb())
growth = tracemalloc.take_snapshot().compare_to(before, "traceback")[:top] if trace else []
print(json.dumps({
    "samples": samples,
    "ready": ready_rss,
    "start": start_rss,
    "growth": [
        {"kib": stat.size_diff / 1024, "count": stat.count_diff,
         "where": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback][-8:]}
        for stat in growth
    ],
}))
"""


def main() -> None:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument(
        "--top", type=int, default=0, help="with tracemalloc: show the N allocations that grew most"
    )
    args = parser.parse_args()
    with Stack.from_args(args) as stack:
        env = {**stack.console_env(), "HUEY_IMMEDIATE": "false", "CONSOLE_LOG_LEVEL": "WARNING"}
        env["DATABASE_URL"] = stack._console_env["DATABASE_URL"]
        env["CONSOLE_ENCRYPTION_KEYS"] = stack._console_env["CONSOLE_ENCRYPTION_KEYS"]
        done = subprocess.run(
            [PYTHON, "-c", TICKS, str(args.ticks), str(WARM_UP), str(args.top), stack.sandbox_url],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(done.stderr[-4000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for stat in result["growth"]:
        print(f"{stat['kib']:+9.1f} KiB {stat['count']:+7d} blocks", file=sys.stderr)
        for where in stat["where"]:
            print(f"      {where}", file=sys.stderr)
    samples, start = result["samples"], result["start"]
    ticks = len(samples) - WARM_UP
    per_100 = (samples[-1] - start) / ticks * 100 if ticks > 0 else 0.0
    print(f"RSS by tick: {' '.join(f'{mb:.1f}' for mb in samples)}", file=sys.stderr)
    print(
        f"worker_memory: {len(samples)} ticks, RSS {result['ready']:.1f} MB ready, "
        f"{start:.1f} MB after {WARM_UP} ticks -> "
        f"{samples[-1]:.1f} MB (max {max(samples):.1f}), {per_100:+.2f} MB per 100 ticks, "
        f"budget {RSS_BUDGET_MB:.0f} MB; {machine()}"
    )


if __name__ == "__main__":
    main()
