"""Start the sandbox and a production-like console on free loopback ports, and stop them again.

Shared by the benchmark scripts (see bench/README.md); not a test fixture and not used in CI.

    with Stack() as stack:
        session = stack.signed_in("operator")
        session.get(f"{stack.console_url}/deployments/?per_page=100")

The console runs as it would in the container: DEBUG off, a random secret key and a fresh
encryption key, static files collected and served by WhiteNoise, gunicorn with gunicorn.conf.py
(only the bind address is overridden, to stay on 127.0.0.1). Both databases are temporary
SQLite files unless a PostgreSQL server is given; `--redis-url` gives the console a shared cache.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEMO_PASSWORD = "demo-password"  # deployments_ui/management/commands/demo_setup.py
# The sandbox keys of the console's demo users (demo_setup.DEMO_USERS).
USER_KEYS = {
    "viewer": "sandbox-key-viewer",
    "operator": "sandbox-key-operator",
    "editor": "sandbox-key-editor",
    "admin": "sandbox-key-admin",
}
# The includes and order of parameters the console's client sends for the deployments list
# (deployments_ui/patchworks/client.py: DEFAULT_INCLUDES, then page and per_page).
LIST_INCLUDE = "flowVersion,virtualEnvironment,package,enabledBy"
STARTUP_TIMEOUT = 60.0
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_CSRF_HEADER = re.compile(r'"x-csrftoken": "([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def stack_arguments(
    parser: argparse.ArgumentParser, *, budget_default: int | None = None
) -> argparse.ArgumentParser:
    """The options every benchmark script shares."""
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL (e.g. postgres://postgres@127.0.0.1:5432/postgres): the "
        "console gets a throwaway database there instead of SQLite",
    )
    parser.add_argument("--redis-url", help="give the console this Redis as its shared cache")
    parser.add_argument("--workers", type=int, help="GUNICORN_WORKERS (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: gunicorn.conf.py)")
    parser.add_argument(
        "--sandbox-workers", type=int, default=2, help="sandbox gunicorn workers (default 2)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and logs")
    parser.add_argument(
        "--budget",
        type=int,
        default=budget_default,
        help="PATCHWORKS_REQUESTS_PER_MINUTE for the console (0: off; default "
        f"{'the console' + chr(39) + 's own, 120' if budget_default is None else budget_default})",
    )
    return parser


class Stack:
    """A sandbox and a console, each in its own gunicorn, with their own temporary databases."""

    def __init__(
        self,
        *,
        postgres: str | None = None,
        redis_url: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        sandbox_workers: int = 2,
        keep: bool = False,
        budget: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.budget = budget
        self.postgres = postgres
        self.redis_url = redis_url
        self.workers = workers
        self.threads = threads
        self.sandbox_workers = sandbox_workers
        self.keep = keep
        self.extra_env = extra_env or {}
        self.workdir = Path(tempfile.mkdtemp(prefix="console-bench-"))
        self.processes: list[subprocess.Popen] = []
        self.sandbox_url = ""
        self.console_url = ""
        self.console: subprocess.Popen | None = None
        self._pg_database = ""

    @classmethod
    def from_args(cls, args: argparse.Namespace, **kwargs: Any) -> Stack:
        return cls(
            postgres=args.postgres,
            redis_url=args.redis_url,
            workers=args.workers,
            threads=args.threads,
            sandbox_workers=args.sandbox_workers,
            keep=args.keep,
            budget=getattr(args, "budget", None),
            **kwargs,
        )

    # Lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self._start_sandbox()
            self._start_console()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                # gunicorn's quick shutdown: SIGTERM would wait out keep-alive connections.
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self._pg_database:
            self._drop_postgres_database()
        if self.keep:
            print(f"(kept {self.workdir})", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # The sandbox -----------------------------------------------------------------------------

    def sandbox_env(self) -> dict[str, str]:
        return {
            **_base_env(),
            "DJANGO_SETTINGS_MODULE": "sandbox.settings",
            "SANDBOX_DATABASE_URL": f"sqlite:///{self.workdir / 'sandbox.sqlite3'}",
            "SANDBOX_CONTROL_ENABLED": "1",
            "SANDBOX_DEBUG": "0",
        }

    def _start_sandbox(self) -> None:
        env = self.sandbox_env()
        _manage(env, "migrate", "--noinput")
        _manage(env, "sandbox_demo_data")
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        self._spawn(
            "sandbox",
            [PYTHON, "-m", "gunicorn", "-c", "python:sandbox.gunicorn_conf", "sandbox.wsgi"]
            + ["-b", f"127.0.0.1:{port}", "--workers", str(self.sandbox_workers)],
            env,
            f"{self.sandbox_url}/__sandbox__/faults",
        )

    def set_fault(self, **fields: Any) -> None:
        """Replace the sandbox's stored fault (e.g. latency_ms=50), for every /api/ request."""
        response = requests.put(f"{self.sandbox_url}/__sandbox__/faults", json=fields, timeout=10)
        response.raise_for_status()

    def clear_fault(self) -> None:
        requests.delete(f"{self.sandbox_url}/__sandbox__/faults", timeout=10).raise_for_status()

    def upstream(self, key: str = USER_KEYS["operator"]) -> requests.Session:
        """A keep-alive session that calls the sandbox directly, as the console's client does."""
        session = requests.Session()
        session.headers.update(
            {"Authorization": key, "Accept": "application/json", "User-Agent": "bench"}
        )
        return session

    # The console -----------------------------------------------------------------------------

    def console_env(self) -> dict[str, str]:
        env = {
            **_base_env(),
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "CONSOLE_ENCRYPTION_KEYS": fernet_key(),
            # Plain http on the loopback: cookies marked Secure would never be sent back.
            "CONSOLE_SECURE_COOKIES": "0",
            "PATCHWORKS_BASE_URL": self.sandbox_url,
            "CONSOLE_SERVICE_API_KEY": "sandbox-key-service",
            "DATABASE_URL": self._console_database_url(),
            **self.extra_env,
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.budget is not None:
            env["PATCHWORKS_REQUESTS_PER_MINUTE"] = str(self.budget)
        if self.workers:
            env["GUNICORN_WORKERS"] = str(self.workers)
        if self.threads:
            env["GUNICORN_THREADS"] = str(self.threads)
        return env

    def _console_database_url(self) -> str:
        if not self.postgres:
            return f"sqlite:///{self.workdir / 'console.sqlite3'}"
        if not self._pg_database:
            self._pg_database = f"console_bench_{secrets.token_hex(4)}"
            _postgres_admin(self.postgres, f'CREATE DATABASE "{self._pg_database}"')
        return _with_database(self.postgres, self._pg_database)

    def _drop_postgres_database(self) -> None:
        try:
            _postgres_admin(self.postgres, f'DROP DATABASE IF EXISTS "{self._pg_database}"')
        finally:
            self._pg_database = ""

    def _start_console(self) -> None:
        env = self._console_env = self.console_env()
        # Production serves the manifest-hashed files that the image's build step collected.
        _manage(env, "collectstatic", "--noinput")
        _manage(env, "migrate", "--noinput")
        # Unprotected: the benchmarks flip live deployments, which approval would hold back.
        _manage(env, "demo_setup", "--force-demo", "--no-change-control")
        port = free_port()
        self.console_url = f"http://127.0.0.1:{port}"
        self.console = self._spawn(
            "console",
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "console.wsgi"]
            + ["--bind", f"127.0.0.1:{port}"],
            env,
            f"{self.console_url}/healthz",
        )

    def manage(self, *args: str) -> str:
        """Run a console management command against the running console's database."""
        return _manage(self._console_env, *args)

    def signed_in(self, username: str = "operator") -> requests.Session:
        """A browser-like session signed in to the console as one of the demo users."""
        session = requests.Session()
        session.headers["User-Agent"] = "bench"
        login = f"{self.console_url}/accounts/login/"
        page = session.get(login, timeout=30)
        page.raise_for_status()
        response = session.post(
            login,
            data={
                "username": username,
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": csrf_from_form(page.text),
            },
            timeout=30,
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"signing in as {username} gave {response.status_code}")
        return session

    def clicking(self, username: str = "operator") -> tuple[requests.Session, dict[str, str]]:
        """A signed-in session on the list page, and the headers htmx sends with its buttons."""
        session = self.signed_in(username)
        page = session.get(f"{self.console_url}/deployments/", timeout=30)
        page.raise_for_status()
        headers = {
            "HX-Request": "true",
            "HX-Current-URL": f"{self.console_url}/deployments/",
            "X-CSRFToken": csrf_from_page(page.text),
        }
        return session, headers

    def worker_pids(self) -> list[int]:
        """The console's gunicorn worker processes (children of the master)."""
        assert self.console is not None
        return child_pids(self.console.pid)

    # Plumbing --------------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict, ready_url: str) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {self.log(name)}")
            try:
                if requests.get(ready_url, timeout=2).status_code < 500:
                    return process
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer within {STARTUP_TIMEOUT:.0f}s: {self.log(name)}")

    def log(self, name: str) -> str:
        """The tail of a server's log (console or sandbox)."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _base_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _postgres_admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (read from /proc/*/stat, which every kernel has)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces: the parent id follows its ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    """Resident memory of one process, from /proc/<pid>/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def csrf_from_form(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def csrf_from_page(html: str) -> str:
    """The token htmx sends (hx-headers on <body>)."""
    match = _CSRF_HEADER.search(html)
    if not match:
        raise RuntimeError("no x-csrftoken in the page's hx-headers")
    return match.group(1)


def timed(call) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0-1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values)


def budget_words(budget: int | None) -> str:
    """The upstream budget a run had, for its summary line."""
    if budget is None:
        return "budget 120 requests/min (the default)"
    return "budget off" if budget == 0 else f"budget {budget} requests/min"


def machine() -> str:
    """A short description of this machine, for the summary lines."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    # Benchmarks on a shared machine mean little: say how busy it was.
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cores} cores{memory}{load}, Python {sys.version.split()[0]}"
