"""Upstream requests per page view, for every response shape, on a cold and a warm cache.

    .venv/bin/python bench/requests_per_page.py [--redis-url redis://127.0.0.1:6379/3]

Starts its own sandbox and production-like console (bench/stack.py) with one gunicorn worker
and Redis as the console's cache, so that "cold" can be made exactly: before each cold view the
console's picker and flow-version entries are deleted from Redis (nothing else is touched). For
each shape the sandbox is switched with /__sandbox__/shape, and every page is viewed twice, cold
then warm; the figure is the number of /api/ requests the sandbox's request log received for
that one view. Budget (DESIGN.md): one upstream request per page view on a warm cache, and
exactly one upstream write per enable/disable. Flow health is on (as by default): the pages
with deployment rows also make one runs request for all their rows (and a failing
deployment's detail page one more, for its failing step's log lines); those are counted
apart, as "+ N runs", and must stay at one runs request a page (two with the log lines).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import LIST_INCLUDE, Stack, csrf_from_page, machine, stack_arguments

SHAPES = ("flat-camel", "flat-snake", "jsonapi", "bodyless-writes")
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
# A page viewed with no shared answer at hand either (nobody viewed anything for a while).
UNSHARED = ", nothing shared"
CACHE_PATTERNS = ("*pickers:*", "*flow-versions:*")
RUNS_PATH = "/api/v1/flow-runs"
SHARED_PATTERN = "*shared-read:*"


class Counter:
    def __init__(self, stack: Stack, redis_url: str) -> None:
        self.stack = stack
        self.redis = redis.Redis.from_url(redis_url)

    def control(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(
            method, f"{self.stack.sandbox_url}/__sandbox__/{path}", timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def make_cold(self, *, unshared: bool = False) -> None:
        """Forget the pickers and version lists (and, if `unshared`, every shared answer)."""
        for pattern in CACHE_PATTERNS + ((SHARED_PATTERN,) if unshared else ()):
            for key in self.redis.scan_iter(match=pattern):
                self.redis.delete(key)

    def requests_for(self, view) -> tuple[int, int, int]:
        """(reads, writes, runs reads) the sandbox received while `view` ran; flow health's
        reads of runs and run logs are counted apart from the other reads."""
        self.control("DELETE", "requests")
        view()
        log = self.control("GET", "requests")["data"]
        runs = sum(1 for entry in log if entry["path"].startswith(RUNS_PATH))
        reads = sum(1 for entry in log if entry["method"] == "GET") - runs
        return reads, len(log) - reads - runs, runs


def targets(stack: Stack) -> dict:
    """A deployment to show and toggle, and a flow, read in the flat-camel shape."""
    upstream = stack.upstream()
    body = upstream.get(
        f"{stack.sandbox_url}/api/v1/flow-version-deployments",
        params={"include": LIST_INCLUDE, "per_page": "100", "filter[global]": "0"},
        timeout=30,
    ).json()
    item = next(d for d in body["data"] if d["enabled_at"])
    return {
        "detail": f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/",
        "flow_version": item["flow_version_id"],
        "flow": item["flowVersion"]["flow_id"],
    }


def pages(target: dict) -> dict[str, tuple[str, dict]]:
    htmx = {"HX-Request": "true"}
    return {
        "list (25 rows)": ("/deployments/", {}),
        "list (100 rows)": ("/deployments/?per_page=100", {}),
        f"list (100 rows){UNSHARED}": ("/deployments/?per_page=100", {}),
        "flow version's deployments": (f"/flow-versions/{target['flow_version']}/deployments/", {}),
        "detail": (target["detail"], {}),
        f"detail{UNSHARED}": (target["detail"], {}),
        "edit form": (f"{target['detail']}edit/", {}),
        "create form": (f"/flow-versions/{target['flow_version']}/deployments/new/", {}),
        "version picker (htmx)": (f"/pickers/flow-versions/?flow={target['flow']}", htmx),
        "audit log": ("/audit/", {}),
    }


def measure_shape(counter: Counter, console: requests.Session, shape: str, target: dict) -> dict:
    counter.control("PUT", "shape", json={"shape": shape})
    base = counter.stack.console_url
    figures: dict[str, tuple] = {}
    for name, (path, headers) in pages(target).items():

        def view(path=path, headers=headers, name=name):
            response = console.get(f"{base}{path}", headers=headers, timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"{shape} {name}: {response.status_code}")

        counter.make_cold(unshared=name.endswith(UNSHARED))
        cold, _, cold_runs = counter.requests_for(view)
        warm, _, warm_runs = counter.requests_for(view)
        figures[name] = (cold, warm, cold_runs, warm_runs)
    # Disable then enable from the list row (htmx), warm cache: reads and writes for each.
    page = console.get(f"{base}{target['detail']}", timeout=60)
    token = csrf_from_page(page.text)
    for action in ("disable", "enable"):

        def toggle(action=action):
            response = console.post(
                f"{base}{target['detail']}{action}/",
                headers={"HX-Request": "true", "X-CSRFToken": token},
                timeout=60,
            )
            if response.status_code != 200:
                raise RuntimeError(f"{shape} {action}: {response.status_code}")

        figures[f"{action} (reads + writes)"] = counter.requests_for(toggle)
    return figures


def _cell(cold: int, warm: int, cold_runs: int, warm_runs: int) -> str:
    """ "1 (+1 runs) cold / 0 warm": other reads, with flow health's runs reads apart."""

    def part(reads: int, runs: int) -> str:
        return f"{reads} (+{runs} runs)" if runs else str(reads)

    return f"{part(cold, cold_runs)} cold / {part(warm, warm_runs)} warm"


def main() -> int:
    parser = stack_arguments(argparse.ArgumentParser(description=__doc__))
    parser.set_defaults(redis_url=DEFAULT_REDIS, workers=1)
    args = parser.parse_args()
    with Stack.from_args(args) as stack:
        counter = Counter(stack, args.redis_url)
        counter.control("PUT", "shape", json={"shape": "flat-camel"})
        target = targets(stack)
        console = stack.signed_in("editor")
        results = {shape: measure_shape(counter, console, shape, target) for shape in SHAPES}
        counter.control("DELETE", "shape")
    names = list(next(iter(results.values())))
    print("| page view | " + " | ".join(SHAPES) + " |")
    print("|---|" + "---|" * len(SHAPES))
    for name in names:
        if "reads + writes" in name:
            cells = [f"{r} + {w}" for r, w, _ in (results[s][name] for s in SHAPES)]
        else:
            cells = [_cell(*results[s][name]) for s in SHAPES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    runs_ok = all(figures[name][2] <= 2 for figures in results.values() for name in names)
    warm_ok = all(
        figures[name][1] <= 1
        for figures in results.values()
        for name in names
        if "reads + writes" not in name
    )
    one_write = all(
        figures[name][1] == 1
        for figures in results.values()
        for name in names
        if "reads + writes" in name
    )
    print(
        f"requests_per_page: warm cache at most 1 request per page view: "
        f"{'met' if warm_ok else 'MISSED'}; flow health at most 1 runs request a page (+1 for "
        f"a failing step's lines): {'met' if runs_ok else 'MISSED'}; one write per toggle: "
        f"{'met' if one_write else 'MISSED'} ({machine()})"
    )
    return 0 if warm_ok and one_write and runs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
