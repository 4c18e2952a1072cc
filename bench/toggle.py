"""(b) The enable/disable htmx fragment through the console, against a direct upstream enable.

    .venv/bin/python bench/toggle.py [--iterations 100] [--latencies 0,50]

Starts its own sandbox and production-like console (bench/stack.py), signs in as `operator`
and flips one deployment on and off through the console (POST with HX-Request and the CSRF
header, as htmx sends it), alternating with direct upstream enable/disable POSTs on another
deployment. The console reads the deployment before it writes (docs/DESIGN.md, "The path of a
request": the state check), so the summary gives the added time both against the bare
upstream write and against the upstream read plus write. Budget: within 5 ms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    LIST_INCLUDE,
    Stack,
    budget_words,
    machine,
    median,
    percentile,
    stack_arguments,
    timed,
)

BUDGET_MS = 5.0
FRAGMENT_BUDGET_BYTES = 4096


def two_deployments(stack: Stack) -> list[dict]:
    response = stack.upstream().get(
        f"{stack.sandbox_url}/api/v1/flow-version-deployments",
        params={"filter[global]": "0", "per_page": "2", "include": LIST_INCLUDE},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["data"]


def measure(stack: Stack, *, latency_ms: int, iterations: int) -> dict:
    if latency_ms:
        stack.set_fault(latency_ms=latency_ms)
    else:
        stack.clear_fault()
    ours, theirs = two_deployments(stack)
    console, headers = stack.clicking("operator")
    base = f"{stack.console_url}/flow-versions/{ours['flow_version_id']}/deployments/{ours['id']}"
    state = {"enabled": bool(ours["enabled_at"])}

    def console_toggle():
        action = "disable" if state["enabled"] else "enable"
        response = console.post(
            f"{base}/{action}/",
            data={"fragment": "row", "next": "/deployments/", "reason": ""},
            headers=headers,
            timeout=30,
        )
        if response.status_code != 200 or not response.text.startswith("<tr"):
            raise RuntimeError(f"console {action} gave {response.status_code}: {response.text}")
        state["enabled"] = not state["enabled"]
        return response

    upstream = stack.upstream()
    path = f"/api/v1/flow-versions/{theirs['flow_version_id']}/deployments/{theirs['id']}"
    theirs_state = {"enabled": bool(theirs["enabled_at"])}

    def upstream_toggle():
        action = "disable" if theirs_state["enabled"] else "enable"
        response = upstream.post(f"{stack.sandbox_url}{path}/{action}", timeout=30)
        response.raise_for_status()
        theirs_state["enabled"] = not theirs_state["enabled"]
        return response

    def upstream_read():
        response = upstream.get(
            f"{stack.sandbox_url}{path}", params={"include": LIST_INCLUDE}, timeout=30
        )
        response.raise_for_status()
        return response

    for _ in range(10):
        console_toggle()
        upstream_toggle()
        upstream_read()
    reads, writes = upstream_calls_per_toggle(stack, console_toggle)

    console_ms, write_ms, read_ms, sizes = [], [], [], []
    for _ in range(iterations):
        elapsed, fragment = timed(console_toggle)
        console_ms.append(elapsed)
        sizes.append(len(fragment.content))
        elapsed, _ = timed(upstream_toggle)
        write_ms.append(elapsed)
        elapsed, _ = timed(upstream_read)
        read_ms.append(elapsed)
    return {
        "latency_ms": latency_ms,
        "console": console_ms,
        "write": write_ms,
        "read": read_ms,
        "max_bytes": max(sizes),
        "upstream_reads": reads,
        "upstream_writes": writes,
    }


def upstream_calls_per_toggle(stack: Stack, console_toggle) -> tuple[int, int]:
    """(reads, writes) that one toggle sends to Patchworks (budget: exactly one write)."""
    log = f"{stack.sandbox_url}/__sandbox__/requests"
    requests.delete(log, timeout=10).raise_for_status()
    console_toggle()
    entries = requests.get(log, timeout=10).json()["data"]
    writes = sum(1 for entry in entries if entry["method"] != "GET")
    return len(entries) - writes, writes


def describe(result: dict) -> str:
    console, write = median(result["console"]), median(result["write"])
    read = median(result["read"])
    over_write = console - write
    over_both = console - write - read
    verdict = "met" if over_both <= BUDGET_MS else "MISSED"
    return (
        f"+{result['latency_ms']} ms upstream latency: fragment {console:.1f} ms vs upstream "
        f"write {write:.1f} ms (+ read {read:.1f} ms), added {over_write:.1f} ms over the write, "
        f"{over_both:.1f} ms over read+write [{BUDGET_MS:g} ms budget {verdict}]"
    )


def main() -> None:
    parser = stack_arguments(
        argparse.ArgumentParser(description=__doc__.split("\n")[0]), budget_default=0
    )
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--latencies", default="0,50", help="comma list of added ms")
    parser.add_argument(
        "--shared-reads",
        type=float,
        default=0,
        help="CONSOLE_SHARED_READ_SECONDS (default 0: every view makes its own upstream read)",
    )
    args = parser.parse_args()
    results = []
    shared = {"CONSOLE_SHARED_READ_SECONDS": str(args.shared_reads)}
    with Stack.from_args(args, extra_env=shared) as stack:
        for latency in (int(value) for value in args.latencies.split(",")):
            result = measure(stack, latency_ms=latency, iterations=args.iterations)
            results.append(result)
            print(
                f"  +{latency} ms: fragment p50/p95 {median(result['console']):.1f}/"
                f"{percentile(result['console'], 0.95):.1f} ms, upstream write p50/p95 "
                f"{median(result['write']):.1f}/{percentile(result['write'], 0.95):.1f} ms, "
                f"read p50 {median(result['read']):.1f} ms; largest fragment "
                f"{result['max_bytes']} bytes (budget {FRAGMENT_BUDGET_BYTES}); upstream calls "
                f"per toggle: {result['upstream_reads']} read(s), "
                f"{result['upstream_writes']} write(s)",
                file=sys.stderr,
            )
        stack.clear_fault()
    print(
        f"toggle ({args.iterations} runs, {budget_words(args.budget)}, "
        f"shared reads {args.shared_reads:g} s, {machine()}): "
        + "; ".join(describe(result) for result in results)
    )


if __name__ == "__main__":
    main()
