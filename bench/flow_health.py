"""What flow health costs a page of 100 deployments: the one runs request and the assessment.

Run by hand:  .venv/bin/python bench/flow_health.py [--url http://127.0.0.1:8001] [-n 50]

Without --url it starts its own sandbox (fresh demo data), as client_overhead.py does. Prints
the median of: the sandbox's answer to the runs request (100 runs, newest first, last 24 hours),
`read_board` for 100 deployments (that request through the client, plus the assessment), and
`assess` alone, in-process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_overhead import KEY, sandbox_url, setup_django


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running sandbox (default: start one)")
    parser.add_argument("-n", "--iterations", type=int, default=50)
    return parser.parse_args()


def _median_ms(call, iterations: int) -> float:
    call()  # warm up
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    args = parse_args()
    # No request budget: it needs the console's database, and this measures one request anyway.
    os.environ.setdefault("PATCHWORKS_REQUESTS_PER_MINUTE", "0")
    with sandbox_url(args.url) as url:
        setup_django(url)
        import requests
        from django.utils import timezone

        from deployments_ui.flow_health import assess, read_board, window_of
        from deployments_ui.patchworks import PatchworksClient

        client = PatchworksClient(KEY)
        deployments = client.list_deployments(per_page=100).items
        since = timezone.now() - timedelta(hours=24)
        params = {
            "sort": "-started_at",
            "per_page": "100",
            "filter[started_after]": str(int(since.timestamp() * 1000)),
        }
        headers = {"Authorization": KEY, "Accept": "application/json"}

        def raw() -> None:
            response = requests.get(f"{url}/api/v1/flow-runs", params=params, headers=headers)
            response.raise_for_status()

        page = client.list_flow_runs(started_after=since)
        window = window_of(page.items, since=since, has_more=page.has_next, now=timezone.now())
        raw_ms = _median_ms(raw, args.iterations)
        board_ms = _median_ms(lambda: read_board(client, deployments), args.iterations)
        assess_ms = _median_ms(lambda: assess(deployments, page.items, window), args.iterations)
    load = os.getloadavg()[0]
    print(
        f"flow health for {len(deployments)} deployments: runs request {raw_ms:.1f} ms "
        f"(sandbox, {page.total} runs in 24 h), read_board {board_ms:.1f} ms, assess alone "
        f"{assess_ms:.2f} ms; medians of {args.iterations}; {os.uname().nodename}, load {load:.1f}"
    )


if __name__ == "__main__":
    main()
