"""Real servers for tests: start one in its own process group, wait for it, stop it for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(
    command: list[str],
    *,
    env: dict[str, str],
    log: Path,
    answers: Callable[[], object],
    what: str,
) -> Iterator[subprocess.Popen]:
    """Start `command`, wait until `answers()` stops raising OSError, and stop it afterwards.

    The server gets its own process group so that stopping it also stops its workers, even
    when a loaded machine makes its quick shutdown slower than the test is willing to wait.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(process, log, answers, what)
        yield process
    finally:
        stop(process)


def _wait_until_up(
    process: subprocess.Popen, log: Path, answers: Callable[[], object], what: str
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            answers()
            return
        except OSError:  # requests' and http.client's connection errors are OSErrors
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """gunicorn's quick shutdown (SIGINT: no keep-alive wait); the whole group killed if slow."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):  # what is left of the group, the arbiter or its workers
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
