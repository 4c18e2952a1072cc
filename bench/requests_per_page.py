"""Upstream requests per page view, for every response shape, on a cold and a warm cache.

    .venv/bin/python bench/requests_per_page.py [--redis-url redis://127.0.0.1:6379/3]

Starts its own sandbox and production-like console (bench/stack.py) with one gunicorn worker
and Redis as the console's cache, so that "cold" can be made exactly: before each cold view the
console's picker and flow-version entries are deleted from Redis (nothing else is touched). For
each shape the sandbox is switched with /__sandbox__/shape, and every page is viewed twice, cold
then warm; the figure is the number of /api/ requests the sandbox's request log received for
that one view. Budget (DESIGN.md): one upstream request per page view on a warm cache, and
exactly one upstream write per enable/disable.
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
CACHE_PATTERNS = ("*pickers:*", "*flow-versions:*")


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

    def make_cold(self) -> None:
        for pattern in CACHE_PATTERNS:
            for key in self.redis.scan_iter(match=pattern):
                self.redis.delete(key)

    def requests_for(self, view) -> tuple[int, int]:
        """(reads, writes) the sandbox received while `view` ran."""
        self.control("DELETE", "requests")
        view()
        log = self.control("GET", "requests")["data"]
        reads = sum(1 for entry in log if entry["method"] == "GET")
        return reads, len(log) - reads


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
        "flow version's deployments": (f"/flow-versions/{target['flow_version']}/deployments/", {}),
        "detail": (target["detail"], {}),
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

        counter.make_cold()
        cold, _ = counter.requests_for(view)
        warm, _ = counter.requests_for(view)
        figures[name] = (cold, warm)
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
            cells = [f"{r} + {w}" for r, w in (results[s][name] for s in SHAPES)]
        else:
            cells = [f"{c} cold / {w} warm" for c, w in (results[s][name] for s in SHAPES)]
        print(f"| {name} | " + " | ".join(cells) + " |")
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
        f"{'met' if warm_ok else 'MISSED'}; one write per toggle: "
        f"{'met' if one_write else 'MISSED'} ({machine()})"
    )
    return 0 if warm_ok and one_write else 1


if __name__ == "__main__":
    sys.exit(main())
