"""A pytest plugin serving the sandbox (the Patchworks stand-in) over real HTTP.

Enable it with `pytest_plugins = ["tests.sandbox_fixtures"]` in the root conftest. It needs no
Django settings in the test process: the sandbox runs in its own gunicorn with its own database.

    def test_it_lists(sandbox):
        response = sandbox.api("GET", "/api/v1/flow-version-deployments")
        assert response.status_code == 200
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.servers import REPO, free_port, running

DEMO_KEY = "sandbox-demo-key"
READ_ONLY_KEY = "sandbox-key-readonly"
# The shape the sandbox answers in unless a test asks for another (its OpenAPI file's shape).
DEFAULT_SHAPE = "flat-camel"
SHAPES = ("flat-camel", "flat-snake", "jsonapi", "bodyless-writes")


class SandboxServer:
    """A running sandbox and the control calls tests need."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/__sandbox__/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self, if_changed: bool = False) -> bool:
        """Wipe and reload the demo data (with if_changed, only after a write); True if it did."""
        params = {"if_changed": "1"} if if_changed else {}
        return self._control("POST", "reset", params=params)["reloaded"]

    def set_faults(self, **fields: Any) -> dict:
        """Replace the stored fault, e.g. set_faults(error_status=503, methods=["GET"], count=1)."""
        return self._control("PUT", "faults", json=fields)["data"]

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def faults(self) -> dict | None:
        return self._control("GET", "faults")["data"]

    def requests(self) -> list[dict]:
        """The /api/ requests received since the last clear, oldest first."""
        return self._control("GET", "requests")["data"]

    def clear_requests(self) -> None:
        self._control("DELETE", "requests")

    def set_runs_clock(self, days_ahead: int) -> None:
        """Move the runs' clock this many days ahead (0: back); a reset puts it back."""
        self._control("PUT", "clock", json={"days_ahead": days_ahead})

    def set_shape(self, shape: str | None) -> str:
        """Answer in this response shape (flat-camel, flat-snake, jsonapi, bodyless-writes);
        None: back to the default, SANDBOX_RESPONSE_SHAPE."""
        if shape is None:
            return self._control("DELETE", "shape")["data"]["shape"]
        return self._control("PUT", "shape", json={"shape": shape})["data"]["shape"]

    def shape(self) -> str:
        return self._control("GET", "shape")["data"]["shape"]

    def delete_flow_version(self, flow_version_id: int) -> dict:
        return self._control("POST", f"flow-versions/{flow_version_id}/delete")

    def api(
        self, method: str, path: str, key: str | None = DEMO_KEY, **kwargs: Any
    ) -> requests.Response:
        """Call the API as the owner of `key` (None: send no key). `path` starts with /api/."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        if key is not None:
            headers["Authorization"] = key
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.url}{path}", headers=headers, **kwargs)


# One interpreter for both commands: Django's start-up is most of their cost.
PREPARE = (
    "import django; django.setup(); from django.core.management import call_command; "
    "call_command('migrate', interactive=False, verbosity=0); "
    "call_command('sandbox_demo_data', verbosity=0)"
)


def _prepare_database(env: dict[str, str]) -> None:
    """migrate and sandbox_demo_data, with the sandbox's settings, in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-c", PREPARE], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"preparing the sandbox database failed:\n{result.stderr}")


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """The sandbox in gunicorn (1 worker, 8 threads) on a free port, with a fresh database."""
    workdir = tmp_path_factory.mktemp("sandbox")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
        "SANDBOX_DATABASE_URL": f"sqlite:///{workdir / 'sandbox.sqlite3'}",
        "SANDBOX_CONTROL_ENABLED": "true",
        "SANDBOX_RESPONSE_SHAPE": DEFAULT_SHAPE,
        "PYTHONPATH": str(REPO),
    }
    _prepare_database(env)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:sandbox.gunicorn_conf"]
    command += ["sandbox.wsgi", "-b", f"127.0.0.1:{port}", "--log-level", "info"]
    url = f"http://127.0.0.1:{port}"
    with running(
        command,
        env=env,
        log=workdir / "gunicorn.log",
        answers=lambda: requests.get(f"{url}/__sandbox__/faults", timeout=5),
        what="the sandbox",
    ):
        yield SandboxServer(url)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox with fresh demo data, no faults, the default shape and an empty request log."""
    # Tests that only read leave the data as loaded: skipping the reload keeps the suite quick.
    sandbox_server.reset(if_changed=True)
    sandbox_server.clear_faults()
    sandbox_server.set_shape(None)
    sandbox_server.clear_requests()
    yield sandbox_server
    sandbox_server.clear_faults()
    sandbox_server.set_shape(None)


@pytest.fixture(params=SHAPES)
def shaped_sandbox(sandbox: SandboxServer, request: pytest.FixtureRequest) -> SandboxServer:
    """The sandbox answering in each response shape in turn (the test runs once per shape)."""
    sandbox.set_shape(request.param)
    return sandbox
