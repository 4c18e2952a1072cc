"""The audit trail's operations: verifying, streaming to a TCP syslog receiver, pruning.

    .venv/bin/python bench/audit_ops.py [--events 5000] [--batch 500]

In a temporary SQLite database (production settings otherwise): appends --events events (as
attempt and outcome pairs), then times `verify_chain` over them, one `stream.deliver()` of all
of them to a syslog+tcp receiver process (tests/audit/syslog_receiver.py) until the receiver
has every message, and `prune_audit` of the first half (export and removal). Prints events per
second for each on one summary line.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PYTHON, REPO, fernet_key, machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    received = work / "received.log"
    receiver = subprocess.Popen(
        [PYTHON, str(REPO / "tests/audit/syslog_receiver.py"), "tcp", "0", str(received)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DATABASE_URL": f"sqlite:///{work / 'console.sqlite3'}",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "CONSOLE_AUDIT_KEY": secrets.token_urlsafe(48),
            "CONSOLE_ENCRYPTION_KEYS": fernet_key(),
            "CONSOLE_AUDIT_STREAM": f"syslog+tcp://127.0.0.1:{port}",
            "CONSOLE_AUDIT_STREAM_BATCH": str(options.batch),
            "CONSOLE_AUDIT_STREAM_SECONDS": "600",
        }
    )
    try:
        print(summary(options.events, received, work), flush=True)
    finally:
        receiver.kill()


def summary(events: int, received: Path, work: Path) -> str:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from deployments_ui import audit
    from deployments_ui.audit import stream

    call_command("migrate", verbosity=0)
    actor = audit.Actor(name="Bench", username="bench")
    target = audit.DeploymentRef(deployment_id="101", flow_name="Orders", environment_type="live")
    started = time.perf_counter()
    for number in range(events // 2):
        attempt = audit.record_attempt(actor=actor, action="disable", target=target)
        audit.record_outcome(attempt, outcome="succeeded", upstream_status=200)
        if number == events // 4:
            middle = timezone.now()
    append = events / (time.perf_counter() - started)

    started = time.perf_counter()
    assert audit.verify_chain().ok
    verify = events / (time.perf_counter() - started)

    started = time.perf_counter()
    stream.deliver()
    while len(received.read_text().splitlines() if received.exists() else []) < events:
        time.sleep(0.01)
    streamed = events / (time.perf_counter() - started)

    started = time.perf_counter()
    call_command("prune_audit", before=middle.isoformat(), export=str(work / "export.jsonl"))
    prune = (events // 2) / (time.perf_counter() - started)
    return (
        f"audit ops, {events} events: append {append:.0f}/s, verify {verify:.0f}/s, "
        f"stream to syslog+tcp {streamed:.0f}/s, prune (verify + export + remove) {prune:.0f}/s "
        f"removed events; {machine()}"
    )


if __name__ == "__main__":
    main()
