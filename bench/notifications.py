"""Notifications: how long from an audit event to its webhook delivery with the worker idle, and
how many deliveries per second one consumer makes.

    .venv/bin/python bench/notifications.py [--events 30] [--gap 1] [--burst 300] [--redis URL]

Runs one consumer (`manage.py run_huey`, production settings, SQLite database and queue in a
temporary directory, or Redis for the queue with --redis) and a local webhook receiver in this
process. A writer appends audit events (an attempt and its outcome, as the services do) with a
webhook matching every change:

1. idle: one event every --gap seconds; latency = when the receiver got the post minus the
   event's `occurred_at` (same clock), p50/p95/max;
2. burst: --burst events written as fast as one writer can while the consumer runs; deliveries
   per second = events / (last arrival - first event's time) (the writer is part of this);
3. backlog: --burst events written with the consumer stopped, then one consumer started;
   deliveries per second from its first arrival to its last (the consumer alone).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PYTHON, REPO, fernet_key, machine, median, percentile
from deployments_ui.notifications import receiver as receivers

SETUP = """
import json
from deployments_ui.accounts import crypto
from deployments_ui.notifications.models import Webhook
Webhook.objects.create(name="bench", url={url!r}, encrypted_secret=crypto.encrypt("whsec_bench"))
print(json.dumps({{"ok": True}}))
"""

WRITE = """
import json, time
from deployments_ui import audit
actor = audit.Actor(name="Bench", username="bench")
target = DeploymentRef(deployment_id="101", flow_name="Orders", environment_name="UK Live",
                           environment_type="live")
times = {{}}
for number in range({count}):
    attempt = audit.record_attempt(actor=actor, action="disable", target=target)
    event = audit.record_outcome(attempt, outcome="succeeded", upstream_status=200)
    times[event.pk] = event.occurred_at.timestamp()
    if {gap}:
        time.sleep({gap})
print(json.dumps(times))
"""


def shell(env: dict[str, str], code: str) -> dict:
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def wait_for(receiver, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(receiver.received)}/{count} deliveries arrived")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--gap", type=float, default=1.0)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--redis", default="", help="a Redis URL for the queue (default SQLite)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CONSOLE_ENCRYPTION_KEYS": fernet_key(),
        "DATABASE_URL": f"sqlite:///{workdir / 'console.sqlite3'}",
        "HUEY_SQLITE_PATH": str(workdir / "huey.sqlite3"),
        "HUEY_IMMEDIATE": "false",
        "CONSOLE_WEBHOOK_ALLOW_HTTP": "true",
        "CONSOLE_WEBHOOK_ALLOW_PRIVATE": "true",
        "PYTHONPATH": str(REPO),
    }
    env.pop("REDIS_URL", None)
    if args.redis:
        env["REDIS_URL"] = args.redis
    receiver = receivers.start()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env)
    shell(env, SETUP.format(url=receiver.url))
    log = (workdir / "worker.log").open("wb")

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen(
            [PYTHON, "manage.py", "run_huey"], cwd=REPO, env=env, stdout=log, stderr=log
        )

    worker = start_worker()
    try:
        time.sleep(3)  # let the consumer start and go idle
        written = shell(env, WRITE.format(count=args.events, gap=args.gap))
        wait_for(receiver, args.events, 120)
        arrived = {int(r.headers["X-Console-Event-Id"]): r.at for r in receiver.received}
        latency = [arrived[int(pk)] - at for pk, at in written.items()]

        receiver.received.clear()
        burst = shell(env, WRITE.format(count=args.burst, gap=0))
        wait_for(receiver, args.burst, 600)
        arrivals = sorted(r.at for r in receiver.received)
        ids = {int(r.headers["X-Console-Event-Id"]) for r in receiver.received}

        worker.terminate()
        worker.wait(timeout=30)
        receiver.received.clear()
        shell(env, WRITE.format(count=args.burst, gap=0))
        worker = start_worker()
        wait_for(receiver, args.burst, 600)
        backlog = sorted(r.at for r in receiver.received)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        receiver.stop()
    first_event = min(burst.values())
    end_to_end = args.burst / (arrivals[-1] - first_event)
    consumer = (args.burst - 1) / max(backlog[-1] - backlog[0], 1e-9)
    queue = "Redis" if args.redis else "SQLite"
    print(
        f"notifications: idle worker, {args.events} events {args.gap:g} s apart: audit event to "
        f"delivery p50 {median(latency) * 1000:.0f} ms, p95 {percentile(latency, 0.95) * 1000:.0f} "
        f"ms, max {max(latency) * 1000:.0f} ms; burst of {args.burst}: {len(ids)} delivered, "
        f"{end_to_end:.0f}/s from the first event to the last delivery; a backlog of {args.burst} "
        f"sent at {consumer:.0f}/s by a consumer started after; one consumer (2 threads), "
        f"SQLite database, {queue} queue; {machine()}"
    )


if __name__ == "__main__":
    main()
