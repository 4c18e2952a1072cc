"""(a) The 100-row deployments list through the console, against the same GET sent to Patchworks.

    .venv/bin/python bench/list_page.py [--iterations 200] [--latencies 0,50] [--htmx]

Starts its own sandbox and production-like console (bench/stack.py), signs in as `operator`,
warms every worker's picker cache, then alternates console and direct upstream requests so
that both see the same machine load. For each latency the sandbox is told to add, it reports the
medians, their ratio, and the console's added time (console median - upstream median) as a
share of the upstream median. Budget (docs/DESIGN.md): added time within 15% of the upstream time.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

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

BUDGET = 0.15
PER_PAGE = 100


def measure(stack: Stack, *, latency_ms: int, iterations: int, htmx: bool) -> dict:
    if latency_ms:
        stack.set_fault(latency_ms=latency_ms)
    else:
        stack.clear_fault()
    console = stack.signed_in("operator")
    headers = {"HX-Request": "true"} if htmx else {}
    console_url = f"{stack.console_url}/deployments/?per_page={PER_PAGE}"
    upstream = stack.upstream()
    upstream_url = f"{stack.sandbox_url}/api/v1/flow-version-deployments"
    params = {"include": LIST_INCLUDE, "page": "1", "per_page": str(PER_PAGE)}

    def console_get():
        response = console.get(console_url, headers=headers, timeout=30)
        if response.status_code != 200 or response.text.count('id="deployment-row-') != PER_PAGE:
            raise RuntimeError(f"console list gave {response.status_code}: {response.text[:300]}")
        return response

    def upstream_get():
        response = upstream.get(upstream_url, params=params, timeout=30)
        if response.status_code != 200 or len(response.json()["data"]) != PER_PAGE:
            raise RuntimeError(f"upstream list gave {response.status_code}")
        return response

    # Warm up: every gunicorn worker fills its own picker cache (LocMemCache without Redis).
    for _ in range(max(30, 6 * len(stack.worker_pids()))):
        console_get()
    for _ in range(10):
        upstream_get()
    calls = upstream_calls_per_view(stack, console_get)

    console_ms, upstream_ms = [], []
    for _ in range(iterations):
        elapsed, page = timed(console_get)
        console_ms.append(elapsed)
        elapsed, _ = timed(upstream_get)
        upstream_ms.append(elapsed)
    body = page.content
    return {
        "latency_ms": latency_ms,
        "console": console_ms,
        "upstream": upstream_ms,
        "bytes": len(body),
        "gzip_bytes": len(gzip.compress(body, 6)),
        "upstream_calls": calls,
    }


def upstream_calls_per_view(stack: Stack, console_get) -> int:
    """How many Patchworks requests one warm page view makes (budget: exactly one)."""
    import requests

    log = f"{stack.sandbox_url}/__sandbox__/requests"
    requests.delete(log, timeout=10).raise_for_status()
    console_get()
    return len(requests.get(log, timeout=10).json()["data"])


def describe(result: dict) -> str:
    console, upstream = median(result["console"]), median(result["upstream"])
    added = console - upstream
    share = added / upstream
    verdict = "met" if share <= BUDGET else "MISSED"
    return (
        f"+{result['latency_ms']} ms upstream latency: console {console:.1f} ms vs upstream "
        f"{upstream:.1f} ms (median), ratio {console / upstream:.2f}, added {added:.1f} ms = "
        f"{share:.0%} of upstream [15% budget {verdict}]"
    )


def main() -> None:
    parser = stack_arguments(
        argparse.ArgumentParser(description=__doc__.split("\n")[0]), budget_default=0
    )
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--latencies", default="0,50", help="comma list of added ms")
    parser.add_argument(
        "--htmx", action="store_true", help="time the htmx table fragment instead of the page"
    )
    parser.add_argument(
        "--shared-reads",
        type=float,
        default=0,
        help="CONSOLE_SHARED_READ_SECONDS (default 0: every view makes its own upstream read)",
    )
    args = parser.parse_args()
    latencies = [int(value) for value in args.latencies.split(",")]
    results = []
    shared = {"CONSOLE_SHARED_READ_SECONDS": str(args.shared_reads)}
    with Stack.from_args(args, extra_env=shared) as stack:
        for latency in latencies:
            result = measure(stack, latency_ms=latency, iterations=args.iterations, htmx=args.htmx)
            results.append(result)
            print(
                f"  +{latency} ms: console p50/p95 {median(result['console']):.1f}/"
                f"{percentile(result['console'], 0.95):.1f} ms, upstream p50/p95 "
                f"{median(result['upstream']):.1f}/{percentile(result['upstream'], 0.95):.1f} ms, "
                f"page {result['bytes'] / 1024:.0f} KB ({result['gzip_bytes'] / 1024:.0f} KB "
                f"gzipped), upstream calls per view {result['upstream_calls']}",
                file=sys.stderr,
            )
        stack.clear_fault()
    what = "htmx table fragment" if args.htmx else "full page"
    print(
        f"list_page ({PER_PAGE} rows, {what}, {args.iterations} runs, "
        f"{budget_words(args.budget)}, shared reads {args.shared_reads:g} s, {machine()}): "
        + "; ".join(describe(result) for result in results)
    )


if __name__ == "__main__":
    main()
