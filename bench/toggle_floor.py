"""The least any server adds to an enable or disable, beside what the console adds.

    .venv/bin/python bench/toggle_floor.py [--iterations 60] [--latency 50]

Starts the sandbox and the console (bench/stack.py), and beside them three servers from
bench/floor_wsgi.py under the console's own gunicorn.conf.py, then flips a deployment on and off
through each in turn, alternating with the bare upstream read and write:

- console: the real enable/disable fragment, as bench/toggle.py measures it;
- framework + two commits: the console's settings, middleware, session, sign-in, access check,
  read sent ahead and client, plus two durable commits (as the audit trail's attempt and
  outcome), but no trail, notifications or page;
- framework: the same without the commits;
- bare relay: a WSGI function with no framework that reads, writes and answers.

Each line gives the median time over the upstream read + write (the budget of bench/toggle.py is
5 ms), so that what the console's own work costs can be told from what any server costs. The
budget is off (PATCHWORKS_REQUESTS_PER_MINUTE=0), as for bench/toggle.py. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    LIST_INCLUDE,
    PYTHON,
    USER_KEYS,
    Stack,
    budget_words,
    free_port,
    machine,
    median,
    stack_arguments,
    timed,
)

FLOORS = ("framework+commits", "framework", "relay")


def start_floor(stack: Stack, mode: str) -> str:
    port = free_port()
    env = {
        **stack._console_env,
        "BENCH_FLOOR": mode,
        "BENCH_FLOOR_KEY": USER_KEYS["operator"],
    }
    url = f"http://127.0.0.1:{port}"
    ready = f"{url}/healthz" if mode != "relay" else f"{url}/flow-versions/x/deployments/y/none"
    command = [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "bench.floor_wsgi"]
    stack._spawn(f"floor-{mode}", [*command, "--bind", f"127.0.0.1:{port}"], env, ready)
    return url


def deployments(stack: Stack, count: int) -> list[dict]:
    response = stack.upstream().get(
        f"{stack.sandbox_url}/api/v1/flow-version-deployments",
        params={"filter[global]": "0", "per_page": str(count), "include": LIST_INCLUDE},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["data"]


def flipper(post: Callable[[str], requests.Response], deployment: dict) -> Callable[[], None]:
    """Each call enables the deployment if it is disabled, else disables it, through `post`."""
    state = {"enabled": bool(deployment["enabled_at"])}

    def flip() -> None:
        action = "disable" if state["enabled"] else "enable"
        response = post(action)
        if response.status_code != 200:
            raise RuntimeError(f"{action} gave {response.status_code}: {response.text[:300]}")
        state["enabled"] = not state["enabled"]

    return flip


def calls(stack: Stack, floors: dict[str, str]) -> dict[str, Callable[[], object]]:
    ours, *others, theirs = deployments(stack, len(floors) + 2)
    console, headers = stack.clicking("operator")
    form = {"fragment": "row", "next": "/deployments/", "reason": ""}

    def console_path(url: str, deployment: dict) -> str:
        return f"{url}/flow-versions/{deployment['flow_version_id']}/deployments/{deployment['id']}"

    def through(url: str, deployment: dict) -> Callable[[], None]:
        base = console_path(url, deployment)
        return flipper(
            lambda action: console.post(f"{base}/{action}/", data=form, headers=headers),
            deployment,
        )

    upstream = stack.upstream()
    path = console_path(f"{stack.sandbox_url}/api/v1", theirs)
    result: dict[str, Callable[[], object]] = {"console": through(stack.console_url, ours)}
    for (mode, url), deployment in zip(floors.items(), others, strict=True):
        result[mode] = through(url, deployment)
    result["upstream write"] = flipper(
        lambda action: upstream.post(f"{path}/{action}", timeout=30), theirs
    )
    result["upstream read"] = lambda: upstream.get(
        path, params={"include": LIST_INCLUDE}, timeout=30
    ).raise_for_status()
    return result


def main() -> None:
    parser = stack_arguments(
        argparse.ArgumentParser(description=__doc__.split("\n")[0]), budget_default=0
    )
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--latency", type=int, default=50, help="added ms on every upstream call")
    args = parser.parse_args()
    shared = {"CONSOLE_SHARED_READ_SECONDS": "0"}
    with Stack.from_args(args, extra_env=shared) as stack:
        floors = {mode: start_floor(stack, mode) for mode in FLOORS}
        stack.set_fault(latency_ms=args.latency)
        measured = calls(stack, floors)
        for _ in range(10):
            for call in measured.values():
                call()
        times: dict[str, list[float]] = {name: [] for name in measured}
        for _ in range(args.iterations):
            for name, call in measured.items():
                times[name].append(timed(call)[0])
        stack.clear_fault()
    medians = {name: median(values) for name, values in times.items()}
    both = medians["upstream read"] + medians["upstream write"]
    print(
        f"toggle floor ({args.iterations} runs, +{args.latency} ms upstream latency, "
        f"{budget_words(args.budget)}, {machine()}): upstream read {medians['upstream read']:.1f}"
        f" + write {medians['upstream write']:.1f} ms; over them: "
        + "; ".join(f"{name} +{medians[name] - both:.1f} ms" for name in ("console", *FLOORS))
    )


if __name__ == "__main__":
    main()
