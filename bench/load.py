"""(c) and (d): 50 signed-in people for 60 seconds against gunicorn with the production config,
then the resident memory of each gunicorn worker.

    pip install -e ".[bench]"      # locust
    .venv/bin/python bench/load.py [--users 50] [--duration 60] [--think 0]
                                   [--postgres URL] [--redis-url URL] [--workers N] [--threads N]

Starts its own sandbox and production-like console (bench/stack.py), then runs locust as a
library: each simulated person signs in (operator, editor or admin in turn), and then, until the
time is up, opens a deployments list (60%: page sizes, pages and sorts vary, half of them as
htmx table swaps), a deployment's detail page (25%) or enables/disables a deployment from the
list as htmx does (15%). Sign-in happens before the measured window. `--think` adds a pause
between clicks (seconds, randomised ±50%); 0 means each person clicks again as soon as the page
arrives, which measures capacity rather than a calm day. Every non-2xx answer is an error.
Prints one summary line: requests/s, p50/p95/p99, errors and the RSS of each worker.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import gevent

# Importing locust patches the standard library for gevent: before requests is imported below.
from locust import FastHttpUser, between, constant, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    DEMO_PASSWORD,
    Stack,
    csrf_from_form,
    csrf_from_page,
    machine,
    rss_mb,
    stack_arguments,
)

USERNAMES = ("operator", "editor", "admin")  # the demo roles that may enable and disable
DETAIL_LINK = re.compile(r'href="(/flow-versions/[^/"]+/deployments/[^/"]+/)"')
TOGGLE_ACTION = re.compile(r'hx-post="(/flow-versions/[^/"]+/deployments/[^/"]+/(?:en|dis)able/)"')
SIGN_IN_TIMEOUT = 300
signed_in = {"count": 0}


class Person(FastHttpUser):
    """Someone at the console: mostly reading lists, sometimes a deployment, now and then a flip."""

    wait_time = constant(0)
    number = 0

    def on_start(self) -> None:
        Person.number += 1
        self.username = USERNAMES[Person.number % len(USERNAMES)]
        page = self.client.get("/accounts/login/", name="sign in")
        response = self.client.post(
            "/accounts/login/",
            data={
                "username": self.username,
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": csrf_from_form(page.text),
            },
            allow_redirects=False,
            name="sign in",
        )
        if response.status_code != 302:
            raise RuntimeError(f"{self.username} could not sign in: {response.status_code}")
        self.last_list = ""
        self.csrf = ""
        self.open_list(htmx=False)
        signed_in["count"] += 1

    def open_list(self, *, htmx: bool) -> None:
        per_page = random.choice((25, 25, 25, 50, 100))
        query = f"?per_page={per_page}&page={random.randint(1, 3)}"
        if random.random() < 0.3:
            query += "&sort=" + random.choice(("flow_name", "-enabled_at", "created_at"))
        headers = {"HX-Request": "true"} if htmx else {}
        name = "list (htmx table)" if htmx else "list (page)"
        response = self.client.get(f"/deployments/{query}", headers=headers, name=name)
        if response.status_code == 200 and response.text:
            self.last_list = response.text
            if not htmx:
                self.csrf = csrf_from_page(response.text)

    @task(60)
    def deployments_list(self) -> None:
        self.open_list(htmx=random.random() < 0.5)

    @task(25)
    def deployment_detail(self) -> None:
        links = DETAIL_LINK.findall(self.last_list)
        if links:
            self.client.get(random.choice(links), name="detail")

    @task(15)
    def toggle(self) -> None:
        actions = TOGGLE_ACTION.findall(self.last_list)
        if not actions:
            return
        self.client.post(
            random.choice(actions),
            data={"fragment": "row", "next": "/deployments/", "reason": "load test"},
            headers={"HX-Request": "true", "X-CSRFToken": self.csrf},
            name="enable/disable (htmx)",
        )


def run(stack: Stack, *, users: int, duration: float, think: float) -> dict:
    Person.wait_time = between(think / 2, think * 1.5) if think else constant(0)
    environment = Environment(user_classes=[Person], host=stack.console_url)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(1, users / 5))
    deadline = time.monotonic() + SIGN_IN_TIMEOUT
    while signed_in["count"] < users:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {signed_in['count']} of {users} people signed in")
        gevent.sleep(0.2)
    environment.stats.reset_all()
    started = time.monotonic()
    gevent.sleep(duration)
    runner.quit()
    elapsed = time.monotonic() - started
    return {"stats": environment.stats, "elapsed": elapsed}


def summarise(result: dict) -> tuple[str, list[str]]:
    stats = result["stats"]
    total = stats.total
    details = []
    for entry in sorted(stats.entries.values(), key=lambda entry: -entry.num_requests):
        if not entry.num_requests:
            continue
        details.append(
            f"  {entry.name}: {entry.num_requests} requests, p50/p95/p99 "
            f"{entry.get_response_time_percentile(0.5):.0f}/"
            f"{entry.get_response_time_percentile(0.95):.0f}/"
            f"{entry.get_response_time_percentile(0.99):.0f} ms, {entry.num_failures} errors"
        )
    for error in stats.errors.values():
        details.append(f"  error x{error.occurrences}: {error.method} {error.name}: {error.error}")
    line = (
        f"{total.num_requests / result['elapsed']:.1f} requests/s, p50/p95/p99 "
        f"{total.get_response_time_percentile(0.5):.0f}/"
        f"{total.get_response_time_percentile(0.95):.0f}/"
        f"{total.get_response_time_percentile(0.99):.0f} ms, "
        f"{total.num_failures} errors in {total.num_requests} requests"
    )
    return line, details


def main() -> None:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, after sign-in")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between clicks (s)")
    args = parser.parse_args()
    with Stack.from_args(args) as stack:
        workers = stack.worker_pids()
        result = run(stack, users=args.users, duration=args.duration, think=args.think)
        line, details = summarise(result)
        # (d) Memory once the run is over: each worker has served its share of every page.
        memory = {pid: rss_mb(pid) for pid in stack.worker_pids()}
        recycled = sorted(set(workers) - set(memory))
        log_errors = stack.log("console").count("Traceback")
    for detail in details:
        print(detail, file=sys.stderr)
    if recycled:
        print(f"  workers recycled during the run: {recycled}", file=sys.stderr)
    database = "PostgreSQL" if args.postgres else "SQLite"
    cache = "Redis" if args.redis_url else "local memory"
    sizes = ", ".join(f"{value:.0f}" for value in sorted(memory.values()))
    print(
        f"load ({args.users} people, {args.duration:.0f} s, think {args.think:g} s, "
        f"{len(memory)} workers x {args.threads or 'default'} threads, {database}, {cache} cache, "
        f"{machine()}): {line}; worker RSS {sizes} MB (max {max(memory.values()):.0f} MB, "
        f"budget 100 MB); tracebacks in the console log: {log_errors}"
    )


if __name__ == "__main__":
    main()
