"""Bulk disable of N deployments on one Huey consumer, within the upstream budget, while a person
browses the list.

    .venv/bin/python bench/bulk.py [--items 200] [--latency-ms 50] [--rate 120]

Starts its own sandbox and production-like console (bench/stack.py) and one consumer
(`manage.py run_huey`). Every sandbox request is slowed by --latency-ms. It previews and then
confirms a bulk disable of N deployments through the console's own pages (as the form does),
and while the job runs a person loads the list page (25 rows) about once a second. Reports,
counted by the sandbox's request log: the upstream requests the job sent (writes and reads),
the job's wall time against the budget's floor (requests ÷ rate), the busiest 60-second window
against the budget, 429s (goal 0), and the person's list page p50/p95 while the job ran.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    PYTHON,
    REPO,
    Stack,
    csrf_from_form,
    machine,
    median,
    percentile,
    stack_arguments,
    timed,
)

PROGRESS = re.compile(r"<strong>(\d+) of (\d+)</strong> finished")


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> None:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate", type=int, default=120, help="PATCHWORKS_REQUESTS_PER_MINUTE")
    parser.add_argument(
        "--no-browsing", action="store_true", help="no person loads the list while the job runs"
    )
    args = parser.parse_args()
    extra = {"PATCHWORKS_REQUESTS_PER_MINUTE": str(args.rate), "CONSOLE_SCHEDULE_POLL_SECONDS": "5"}
    with Stack.from_args(args, extra_env=extra) as stack:
        env = {**stack._console_env, "HUEY_SQLITE_PATH": str(stack.workdir / "huey.sqlite3")}
        log = (stack.workdir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [PYTHON, "manage.py", "run_huey"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        stack.processes.append(worker)
        try:
            run(stack, args)
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)


def run(stack: Stack, args: argparse.Namespace) -> None:
    upstream = stack.upstream()
    chosen = []
    page = 1
    while len(chosen) < args.items:
        body = upstream.get(
            f"{stack.sandbox_url}/api/v1/flow-version-deployments",
            params={"per_page": 100, "page": page, "sort": "created_at"},
            timeout=30,
        ).json()
        chosen += [f"{item['flow_version_id']}:{item['id']}" for item in body["data"]]
        if page >= body["meta"]["last_page"]:
            break
        page += 1
    chosen = chosen[: args.items]
    enabled_before = sum(1 for _ in chosen)  # reported from the job's own results below
    person = stack.signed_in("operator")
    form_page = person.get(f"{stack.console_url}/deployments/", timeout=60).text
    data = {
        "csrfmiddlewaretoken": csrf_from_form(form_page),
        "action": "disable",
        "reason": "bench",
        "deployment": chosen,
    }
    stack.set_fault(latency_ms=args.latency_ms)
    time.sleep(2)  # let the preview's and page's requests leave the budget's window
    clear_log(stack)
    preview = person.post(f"{stack.console_url}/deployments/bulk/", data=data, timeout=120)
    preview.raise_for_status()
    preview_requests = len(log_entries(stack))
    clear_log(stack)
    started = time.monotonic()
    confirmed = person.post(
        f"{stack.console_url}/deployments/bulk/",
        data={**data, "confirmed": "1"},
        timeout=120,
        allow_redirects=False,
    )
    assert confirmed.status_code == 303, confirmed.status_code
    job_url = f"{stack.console_url}{confirmed.headers['Location']}"

    page_times: list[float] = []
    done = threading.Event()

    def browse() -> None:
        browser = stack.signed_in("viewer")
        while not done.is_set():
            ms, response = timed(
                lambda: browser.get(f"{stack.console_url}/deployments/?per_page=25", timeout=60)
            )
            if response.status_code == 200:
                page_times.append(ms)
            else:
                page_times.append(float("inf"))
            time.sleep(1.0)

    browsing = threading.Thread(target=browse)
    if not args.no_browsing:
        browsing.start()
    try:
        while True:
            html = person.get(job_url, timeout=60).text
            match = PROGRESS.search(html)
            if match and match.group(1) == match.group(2):
                break
            if time.monotonic() - started > 1800:
                raise SystemExit("the job did not finish within 30 minutes")
            time.sleep(1)
        wall = time.monotonic() - started
    finally:
        done.set()
        if browsing.is_alive():
            browsing.join()
    entries = log_entries(stack)
    stack.clear_fault()
    summary = re.search(r"finished: ([^<]*)\.", html)
    # Whose key sent each request: the job uses the operator's, the person browsing is the
    # viewer, and drift detection (every minute on the same worker) the service key.
    job_entries = [e for e in entries if e["user"] == "Oscar Operator"]
    writes = sum(1 for e in job_entries if e["method"] != "GET")
    reads = len(job_entries) - writes
    pages = sum(1 for e in entries if e["user"] == "Vera Viewer")
    other = len(entries) - len(job_entries) - pages
    too_many = sum(1 for e in entries if e["status"] == 429)
    times = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() for e in entries]
    floor = len(entries) / (args.rate / 60)
    finite = [ms for ms in page_times if ms != float("inf")]
    refused = len(page_times) - len(finite)
    person = (
        f"person's list page while the job ran: {len(finite)} loads, p50 {median(finite):.0f} "
        f"ms, p95 {percentile(finite, 0.95):.0f} ms, {refused} refused"
        if finite
        else "no person browsing"
    )
    print(
        f"bulk: {enabled_before} items, disable, sandbox latency {args.latency_ms} ms, budget "
        f"{args.rate}/min, one consumer: job {summary.group(1) if summary else '?'}; "
        f"upstream requests {len(entries)} (job: {writes} writes + {reads} reads; person's "
        f"pages: {pages}; drift detection: {other}); preview {preview_requests} reads; "
        f"wall {wall:.0f} s vs floor "
        f"{floor:.0f} s ({len(entries)} ÷ {args.rate}/min); busiest 60 s window "
        f"{busiest_window(times, 60.0)} (budget {args.rate}); 429s {too_many}; {person}; "
        f"{machine()}"
    )


def clear_log(stack: Stack) -> None:
    import requests

    requests.delete(f"{stack.sandbox_url}/__sandbox__/requests", timeout=30).raise_for_status()


def log_entries(stack: Stack) -> list[dict]:
    import requests

    response = requests.get(f"{stack.sandbox_url}/__sandbox__/requests", timeout=60)
    response.raise_for_status()
    return response.json()["data"]


if __name__ == "__main__":
    main()
