"""The production-like stack the fault tests break: PostgreSQL and Redis each behind a TCP
proxy the test can cut, the console in gunicorn (two workers), one `run_huey` worker and the
sandbox, all real processes.

PostgreSQL gets a database of its own (`<DATABASE_URL's name>_faults`), made and migrated at
the start and dropped at the end; Redis its own db number (7), emptied at the start. The harness
(`tests/faults/harness.py`) reaches both directly, so the test can read back while a proxy is cut.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography.fernet import Fernet

from tests.faults.harness import PASSWORD, PERSON
from tests.tcp_proxy import POSTGRESQL, REDIS, TcpProxy

REPO = Path(__file__).resolve().parents[2]
REDIS_DB = 7
HOST = "127.0.0.1"
# Variables of the test run's own environment the stack must not inherit.
OWN_PREFIXES = ("DJANGO_", "CONSOLE_", "PATCHWORKS_", "GUNICORN_", "HUEY_", "FORWARDED_")


def postgresql_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis(*REDIS, db=REDIS_DB, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _with(url: str, *, port: int | None = None, name: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        user, _, _ = netloc.rpartition("@")
        netloc = f"{user}@{HOST}:{port}" if user else f"{HOST}:{port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}" if name else parts.path))


class Stack:
    def __init__(self, workdir: Path, sandbox_url: str, database_url: str) -> None:
        self.workdir = workdir
        self.name = urlsplit(database_url).path.lstrip("/") + "_faults"
        self.server_url = database_url
        self.postgresql = TcpProxy(POSTGRESQL)
        self.redis = TcpProxy(REDIS)
        self.postgresql.restore()
        self.redis.restore()
        base = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
        base.pop("REDIS_URL", None)
        # Production settings, with the static files collected into the test's directory.
        (workdir / "faults_settings.py").write_text(
            "from console.settings import *  # noqa: F403\n"
            f"STATIC_ROOT = {str(workdir / 'static')!r}\n"
        )
        base.update(
            {
                "DJANGO_SETTINGS_MODULE": "faults_settings",
                "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO)]),
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": HOST,
                "CONSOLE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "CONSOLE_AUDIT_KEY": secrets.token_urlsafe(48),
                "CONSOLE_SECURE_COOKIES": "0",
                "CONSOLE_LOG_LEVEL": "WARNING",
                "PATCHWORKS_BASE_URL": sandbox_url,
                "PATCHWORKS_CONNECT_TIMEOUT": "1",
                "PATCHWORKS_READ_TIMEOUT": "2",
                "PATCHWORKS_REQUESTS_PER_MINUTE": "600",
                "CONSOLE_SCHEDULE_POLL_SECONDS": "1",
                "HUEY_IMMEDIATE": "false",
                "GUNICORN_WORKERS": "2",
                "GUNICORN_ACCESS_LOG": "",
            }
        )
        self.direct_env = {
            **base,
            "DATABASE_URL": _with(database_url, name=self.name),
            "REDIS_URL": f"redis://{HOST}:{REDIS[1]}/{REDIS_DB}",
        }
        self.env = {
            **base,
            "DATABASE_URL": _with(database_url, port=self.postgresql.port, name=self.name),
            "REDIS_URL": f"redis://{HOST}:{self.redis.port}/{REDIS_DB}",
        }
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.console: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self._logs: list[Path] = []

    # The database ------------------------------------------------------------------------------

    def create(self) -> None:
        import redis

        redis.Redis(*REDIS, db=REDIS_DB).flushdb()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.run("manage.py", "migrate", "--noinput", "-v", "0")
        self.run("manage.py", "collectstatic", "--noinput", "-v", "0")
        self.harness("setup")

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(_with(self.server_url, name="postgres"), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[call-overload]

    # Processes --------------------------------------------------------------------------------

    def run(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=REPO,
            env=self.direct_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def harness(self, *args: str) -> dict:
        return self.run("-m", "tests.faults.harness", *args)

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}-{len(self._logs)}.log"
        self._logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, *command],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_console(self) -> None:
        gunicorn = ["-m", "gunicorn", "-c", "gunicorn.conf.py", "console.wsgi"]
        self.console = self._start("console", [*gunicorn, "--bind", f"{HOST}:{self.port}"])
        self.wait_for(lambda: _answers(f"{self.url}/healthz"), 30, "the console to start")

    def start_worker(self) -> None:
        self.worker = self._start("worker", ["manage.py", "run_huey", "--workers", "2"])

    def console_workers(self) -> list[int]:
        """The gunicorn workers' process ids (children of the arbiter)."""
        assert self.console is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.console.pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()

    def stop(self) -> None:
        for process in (self.worker, self.console):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.postgresql.cut()
        self.redis.cut()

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(f"== {log.name}\n{log.read_text()[-tail:]}" for log in self._logs)

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}\n{self.logs()}")
            time.sleep(0.5)

    # People ------------------------------------------------------------------------------------

    def signed_in(self) -> Browser:
        return Browser(self.url)


class Browser:
    """A person at a browser: signed in as Fay (an Operator), sending the CSRF token as the
    console's pages do. Never follows redirects, so each answer is the console's own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        assert self.session.get(f"{url}/accounts/login/", timeout=30).status_code == 200
        signed = self.post("/accounts/login/", {"username": PERSON, "password": PASSWORD})
        assert signed.status_code == 302, signed.text[-500:]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.url}{path}", allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict, **kwargs: Any) -> requests.Response:
        token = self.session.cookies.get("csrftoken", "")
        data = {"csrfmiddlewaretoken": token, **data}
        return self.session.post(
            f"{self.url}{path}", data=data, allow_redirects=False, timeout=30, **kwargs
        )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
