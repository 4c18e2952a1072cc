"""How much time PatchworksClient adds on top of the HTTP call itself, for a 100-row list.

Run by hand:  .venv/bin/python bench/client_overhead.py [--url http://127.0.0.1:8001] [-n 200]

Without --url it starts its own sandbox (fresh database, demo data, gunicorn on a free port), as
the test fixture does; if that is not possible it uses one already running on 127.0.0.1:8001.
Raw and client calls alternate, so that drift in the sandbox's speed hits both the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "http://127.0.0.1:8001"
KEY = "sandbox-demo-key"
INCLUDE = "flowVersion,virtualEnvironment,package,enabledBy"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running sandbox (default: start one)")
    parser.add_argument("-n", "--iterations", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--key", default=KEY)
    return parser.parse_args()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    import requests

    try:
        requests.get(f"{url}/api/v1/flows", timeout=2)
    except requests.RequestException:
        return False
    return True


@contextlib.contextmanager
def own_sandbox() -> Iterator[str]:
    """A sandbox in gunicorn on a free port with fresh demo data, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as workdir:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "sandbox.settings",
            "SANDBOX_DATABASE_URL": f"sqlite:///{Path(workdir) / 'sandbox.sqlite3'}",
            "PYTHONPATH": str(REPO),
        }
        for command in (["migrate", "--noinput"], ["sandbox_demo_data"]):
            subprocess.run(
                [sys.executable, str(REPO / "manage.py"), *command],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )
        url = f"http://127.0.0.1:{_free_port()}"
        # `-c /dev/null`: gunicorn would otherwise apply ./gunicorn.conf.py, the console's.
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "/dev/null", "sandbox.wsgi"]
        process = subprocess.Popen(
            [*gunicorn, "-b", url[7:], "--workers", "1", "--threads", "4", "--no-control-socket"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not _answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextlib.contextmanager
def sandbox_url(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    try:
        with own_sandbox() as started:
            yield started
    except (OSError, subprocess.CalledProcessError, RuntimeError) as error:
        print(f"could not start a sandbox ({error}); using {DEFAULT_URL}", file=sys.stderr)
        if not _answers(DEFAULT_URL):
            sys.exit(f"no sandbox answers on {DEFAULT_URL}: start one or pass --url")
        yield DEFAULT_URL


def setup_django(url: str) -> None:
    os.environ["PATCHWORKS_BASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    # The client still logs each call (that cost is part of what we measure), to nowhere.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115


def measure(url: str, args: argparse.Namespace) -> tuple[list[float], list[float], int]:
    import requests

    from deployments_ui.patchworks import PatchworksClient

    raw_session = requests.Session()
    headers = {"Authorization": args.key, "Accept": "application/json"}
    params = {"include": INCLUDE, "per_page": str(args.per_page)}
    target = f"{url}/api/v1/flow-version-deployments"
    client = PatchworksClient(args.key)

    def raw() -> int:
        response = raw_session.get(target, params=params, headers=headers, timeout=(3.05, 10))
        response.raise_for_status()
        return len(response.json()["data"])

    def wrapped() -> int:
        return len(client.list_deployments(per_page=args.per_page).items)

    for _ in range(args.warmup):
        raw()
        wrapped()
    raw_times, client_times, rows = [], [], 0
    for _ in range(args.iterations):
        started = time.perf_counter()
        rows = raw()
        raw_times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert wrapped() == rows
        client_times.append((time.perf_counter() - started) * 1000)
    return raw_times, client_times, rows


def main() -> None:
    args = parse_args()
    with sandbox_url(args.url) as url:
        setup_django(url)
        raw_times, client_times, rows = measure(url, args)
    raw, wrapped = statistics.median(raw_times), statistics.median(client_times)
    added = wrapped - raw
    print(
        f"client overhead: median raw {raw:.1f} ms, client {wrapped:.1f} ms, "
        f"added {added:.1f} ms ({added / raw * 100:.1f}%) over {args.iterations} calls "
        f"of {rows} rows"
    )


if __name__ == "__main__":
    main()
