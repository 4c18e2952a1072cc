"""The calendar's cost: its month, week and day views and the ICS feed over a busy trail.

    .venv/bin/python bench/calendar_page.py [--events 2000] [--iterations 20]

In-process (Django's test client, DEBUG off, SQLite in a temporary folder, no sandbox: the
calendar asks Patchworks nothing). The trail gets `--events` changes spread over the month
(a third of them seen outside the console), plus 60 scheduled changes, a few with an open change
request, and four freeze windows (two weekly). Prints, for each view, the median wall time, the
database queries of one request and the gzipped size, then one summary line. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import fernet_key, machine  # noqa: E402

MONTH = datetime(2026, 12, 1, tzinfo=UTC)


def set_up_django(workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "CONSOLE_ENCRYPTION_KEYS": fernet_key(),
            "CONSOLE_SECURE_COOKIES": "0",
            "DATABASE_URL": f"sqlite:///{workdir / 'console.sqlite3'}",
            "CONSOLE_LOG_LEVEL": "WARNING",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("collectstatic", "--noinput", verbosity=0)
    call_command("migrate", verbosity=0)


def fill(events: int) -> None:
    from django.contrib.auth.models import Group, User

    from deployments_ui import audit
    from deployments_ui.changes.models import ChangeRequest, FreezeWindow
    from deployments_ui.core.identity import DeploymentRef
    from deployments_ui.schedules.models import ScheduledChange

    user = User.objects.create_user("vera", password="x", first_name="Vera", last_name="Viewer")
    user.groups.add(Group.objects.get(name="Viewer"))
    for number in range(events):
        target = DeploymentRef(
            deployment_id=str(100 + number % 50),
            flow_version_id="11",
            flow_name=f"Flow {number % 17}",
            environment_id=str(1 + number % 4),
            environment_name=f"Environment {1 + number % 4}",
            environment_type="live" if number % 2 else "test",
        )
        when = MONTH + timedelta(minutes=number * (31 * 24 * 60) // events)
        actor = audit.Actor(name="Ann Smith", username="ann")
        if number % 3 == 0:
            audit.record_external(
                action="disable",
                target=target,
                before={"enabled": True},
                after={"enabled": False},
                actor_name="Dana",
                occurred_at=when,
            )
            continue
        attempt = audit.record_attempt(actor=actor, action="enable", target=target, reason="r")
        audit.record_outcome(attempt, outcome="succeeded", upstream_status=200)
    for number in range(60):
        ScheduledChange.objects.create(
            deployment_id=str(100 + number),
            flow_version_id="11",
            flow_name=f"Flow {number}",
            environment_id="1",
            environment_name="Environment 1",
            environment_type="live",
            action="disable",
            due_at=MONTH + timedelta(hours=number * 12),
            requested_by=user,
            requested_by_name="Vera Viewer",
        )
        if number % 5 == 0:
            ChangeRequest.objects.create(
                action="disable",
                flow_version_id="11",
                deployment_id=str(100 + number),
                summary="s",
                requested_by=user,
                expires_at=MONTH + timedelta(days=40),
            )
    for number in range(2):
        FreezeWindow.objects.create(
            kind="weekly",
            start_day=4,
            start_time=datetime(2000, 1, 1, 18).time(),
            end_day=0,
            end_time=datetime(2000, 1, 1, 6).time(),
            time_zone="Europe/London",
        )
        FreezeWindow.objects.create(
            kind="once",
            starts_at=MONTH + timedelta(days=10 + number),
            ends_at=MONTH + timedelta(days=10 + number, hours=5),
            scope="all",
        )


def measure(iterations: int) -> list[str]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_ACCEPT_ENCODING="gzip")
    client.force_login(User.objects.get(username="vera"))
    made = client.post("/calendar/feed/", {"filters": ""})
    plain = made.content
    feed = (gzip.decompress(plain) if made.get("Content-Encoding") == "gzip" else plain).decode()
    key = feed.split("feed.ics?key=")[1].split('"')[0]
    urls = {
        "month": "/calendar/?view=month&date=2026-12-10",
        "week": "/calendar/?view=week&date=2026-12-10",
        "day": "/calendar/?view=day&date=2026-12-10",
        "ics": f"/calendar/feed.ics?key={key}",
    }
    lines = []
    for name, url in urls.items():
        times = []
        for _ in range(iterations):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        body = response.content
        size = len(body) if response.get("Content-Encoding") == "gzip" else len(gzip.compress(body))
        median = statistics.median(times) * 1000
        lines.append(f"{name} {median:.0f} ms, {len(queries)} queries, {size / 1024:.1f} KB gz")
        print(f"{name}: median {median:.1f} ms over {iterations}", file=sys.stderr)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-calendar-") as workdir:
        set_up_django(Path(workdir))
        fill(args.events)
        lines = measure(args.iterations)
    print(f"calendar, {args.events} trail events: " + "; ".join(lines) + f" ({machine()})")


if __name__ == "__main__":
    main()
