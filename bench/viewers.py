"""Many people watching the deployments list at once, with the default upstream budget.

    .venv/bin/python bench/viewers.py                       # 50 people, a page every ~5 s, 60 s
    .venv/bin/python bench/viewers.py --pause 0             # as fast as they can: most pages/s
    .venv/bin/python bench/viewers.py --people 20 --pause 2 --after-arrival --duration 30
    .venv/bin/python bench/viewers.py --console-url http://127.0.0.1:8000 \\
        --sandbox-url http://127.0.0.1:8001                # against `make run`

Without --console-url it starts its own sandbox and production-like console (bench/stack.py;
add `--workers 2 --redis-url redis://127.0.0.1:6379/N` for the production-like pair of
processes sharing Redis). N people sign in (as the demo users, in turn), then each loads a list
page, one of a few saved filters at random, every --pause seconds (±50% jitter, counted from
the start of the previous load; with --after-arrival, from the moment the last page arrived).
Before that, one person alone loads each filter a few times: the "quiet view".

Reports: page views per second, p50/p95, errors (anything but a 200 with the table, or no
answer within 60 s), pages that said their age ("as of ..."), upstream requests per minute and
list reads, counted by the sandbox's request log, the busiest 60 s window against the budget,
and the people's p95 against the quiet view's median.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    DEMO_PASSWORD,
    Stack,
    budget_words,
    csrf_from_form,
    machine,
    median,
    percentile,
    stack_arguments,
)

# A few saved filters, as people keep them.
FILTERS = (
    "per_page=100",
    "per_page=25&scope=no",
    "q=nightly&per_page=25",
    "sort=flow_name&per_page=50",
)
PEOPLE = ("viewer", "operator", "editor", "admin")
LIST_PATH = "/api/v1/flow-version-deployments"


@dataclass
class Results:
    times: list[float] = field(default_factory=list)  # ms of each good page
    errors: dict[str, int] = field(default_factory=dict)
    dated: int = 0
    retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def good(self, ms: float, dated: bool) -> None:
        with self.lock:
            self.times.append(ms)
            self.dated += dated

    def retry(self) -> None:
        with self.lock:
            self.retried += 1

    def bad(self, why: str) -> None:
        with self.lock:
            self.errors[why] = self.errors.get(why, 0) + 1


def sign_in(console_url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "bench-viewers"
    login = f"{console_url}/accounts/login/"
    form = session.get(login, timeout=60)
    answer = session.post(
        login,
        data={
            "username": username,
            "password": DEMO_PASSWORD,
            "csrfmiddlewaretoken": csrf_from_form(form.text),
        },
        timeout=60,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"signing in as {username} gave {answer.status_code}")
    return session


def load(session: requests.Session, console_url: str, query: str, results: Results) -> None:
    url = f"{console_url}/deployments/?{query}"
    started = time.perf_counter()
    try:
        try:
            answer = session.get(url, timeout=60)
        except requests.ConnectionError as exc:
            # The server closed a kept-alive connection just as it was reused; a browser
            # sends the page request again on a new connection, so this does too (counted).
            print(f"retrying after {exc!r}", file=sys.stderr)
            results.retry()
            answer = session.get(url, timeout=60)
    except requests.RequestException as exc:
        print(f"failed: {exc!r}", file=sys.stderr)
        results.bad(type(exc).__name__)
        return
    ms = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        results.bad(str(answer.status_code))
    elif "Patchworks is busy" in answer.text or 'id="deployment-table"' not in answer.text:
        results.bad("200 without the table")
    else:
        results.good(ms, "(as of " in answer.text)


def person(
    session: requests.Session, args: argparse.Namespace, until: float, results: Results
) -> None:
    rng = random.Random()
    time.sleep(rng.uniform(0, args.pause))  # people do not all arrive in the same instant
    while time.monotonic() < until:
        started = time.monotonic()
        load(session, args.console_url, rng.choice(FILTERS), results)
        pause = args.pause * rng.uniform(0.5, 1.5)
        resume = (time.monotonic() if args.after_arrival else started) + pause
        time.sleep(max(0.0, min(resume, until) - time.monotonic()))


def quiet_view(session: requests.Session, console_url: str) -> float:
    """The median of one person's page views with nobody else about."""
    results = Results()
    for query in FILTERS:
        load(session, console_url, query, results)  # warm: pickers, version lists
    for _ in range(3):
        for query in FILTERS:
            load(session, console_url, query, results)
            time.sleep(0.5)
    if results.errors:
        raise RuntimeError(f"the quiet view failed: {results.errors}")
    return median(results.times[len(FILTERS) :])


def upstream_log(sandbox_url: str) -> list[dict]:
    answer = requests.get(f"{sandbox_url}/__sandbox__/requests", timeout=60)
    answer.raise_for_status()
    return answer.json()["data"]


def clear_upstream_log(sandbox_url: str) -> None:
    requests.delete(f"{sandbox_url}/__sandbox__/requests", timeout=60).raise_for_status()


def _moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def busiest_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def run(args: argparse.Namespace) -> str:
    print(f"signing in {args.people} people…", file=sys.stderr)
    sessions = [sign_in(args.console_url, PEOPLE[i % len(PEOPLE)]) for i in range(args.people)]
    quiet = quiet_view(sessions[0], args.console_url)
    print(f"quiet view p50 {quiet:.0f} ms; waiting for the budget to refill…", file=sys.stderr)
    time.sleep(args.settle)
    clear_upstream_log(args.sandbox_url)
    results = Results()
    started = time.monotonic()
    until = started + args.duration
    threads = [threading.Thread(target=person, args=(s, args, until, results)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    entries = upstream_log(args.sandbox_url)
    return summary(args, results, entries, wall, quiet)


def summary(
    args: argparse.Namespace, results: Results, entries: list[dict], wall: float, quiet: float
) -> str:
    moments = [_moment(entry["time"]) for entry in entries]
    list_reads = sum(1 for e in entries if e["method"] == "GET" and e["path"] == LIST_PATH)
    per_minute = len(entries) / wall * 60
    views = len(results.times) + sum(results.errors.values())
    p50 = median(results.times) if results.times else float("nan")
    p95 = percentile(results.times, 0.95) if results.times else float("nan")
    rhythm = "back to back" if args.pause == 0 else f"every ~{args.pause:g} s"
    if args.after_arrival:
        rhythm = f"{args.pause:g} s after each page arrived"
    errors = ", ".join(f"{count}× {why}" for why, count in sorted(results.errors.items()))
    return (
        f"viewers: {args.people} people, {rhythm}, {wall:.0f} s: {views} page views "
        f"({views / wall:.1f}/s), p50 {p50:.0f} ms, p95 {p95:.0f} ms "
        f"({p95 / quiet:.1f}× the quiet view's {quiet:.0f} ms); errors "
        f"{sum(results.errors.values())}{f' ({errors})' if errors else ''}; sent again on a "
        f"new connection {results.retried}; pages saying their "
        f"age {results.dated}; upstream {len(entries)} requests ({per_minute:.0f}/min, "
        f"{list_reads} list reads), busiest 60 s window {busiest_window(moments)} "
        f"({budget_words(args.budget)}); {machine()}"
    )


def main() -> None:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between page views")
    parser.add_argument("--after-arrival", action="store_true", help="pause after each arrival")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before the run")
    parser.add_argument("--console-url", help="a running console (e.g. make run's)")
    parser.add_argument("--sandbox-url", help="its sandbox (its /__sandbox__/ request log)")
    args = parser.parse_args()
    if args.console_url:
        if not args.sandbox_url:
            parser.error("--console-url needs --sandbox-url")
        print(run(args))
        return
    with Stack.from_args(args) as stack:
        args.console_url, args.sandbox_url = stack.console_url, stack.sandbox_url
        print(run(args))


if __name__ == "__main__":
    main()
