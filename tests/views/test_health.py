"""Health endpoints: /healthz says the process is up, /readyz checks the database and Patchworks."""

from __future__ import annotations

import re
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
import responses

from console import __version__

PYPROJECT_VERSION = tomllib.loads(
    (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
)["project"]["version"]


def test_healthz_answers_without_sign_in_and_says_the_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": PYPROJECT_VERSION}


def test_the_version_is_the_one_in_pyproject():
    assert __version__ == PYPROJECT_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_without_installed_metadata_the_version_comes_from_pyproject(monkeypatch):
    import console

    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(console, "version", not_installed)
    assert console._version() == PYPROJECT_VERSION


def test_the_footer_shows_the_version(client, viewer):
    client.force_login(viewer)
    response = client.get("/audit/")
    assert response.status_code == 200
    footer = (
        response.content.decode().split('<footer class="site-footer">')[1].split("</footer>")[0]
    )
    assert f"Deployments Console {PYPROJECT_VERSION}" in footer


def test_the_sign_in_page_footer_shows_the_version_too(client, db):
    response = client.get("/accounts/login/")
    assert f"Deployments Console {PYPROJECT_VERSION} ·" in response.content.decode()


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_patchworks_answer(client, on_sandbox):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "patchworks": True}


@pytest.mark.django_db
def test_readyz_is_unavailable_when_patchworks_is_down(client, settings):
    settings.PATCHWORKS_BASE_URL = "http://127.0.0.1:9"
    settings.PATCHWORKS_GET_RETRIES = 0
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["patchworks"] is False


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_database_is_down(client, on_sandbox, monkeypatch):
    from django.db import connection

    def broken():
        raise RuntimeError("database gone")

    monkeypatch.setattr(connection, "ensure_connection", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


# Readiness spends at most one Patchworks call per interval per process.

FLOWS = re.compile(r".*/api/v1/flows.*")


@pytest.fixture
def patchworks(settings):
    settings.PATCHWORKS_BASE_URL = "https://patchworks.test"
    settings.PATCHWORKS_GET_RETRIES = 0
    settings.CONSOLE_READY_CACHE_SECONDS = 15
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.mark.django_db
def test_twenty_readiness_probes_spend_one_patchworks_call(client, patchworks):
    patchworks.get(FLOWS, json={"data": [], "meta": {"current_page": 1, "last_page": 1}})
    answers = [client.get("/readyz").status_code for _ in range(20)]
    assert answers == [200] * 20
    assert len(patchworks.calls) == 1


@pytest.mark.django_db
def test_concurrent_probes_still_spend_one_call(patchworks):
    from deployments_ui.views.health import READINESS_CHECKS

    patchworks.get(FLOWS, json={"data": [], "meta": {"current_page": 1, "last_page": 1}})
    check = READINESS_CHECKS["patchworks"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: check(), range(16)))
    assert results == [True] * 16
    assert len(patchworks.calls) == 1


def test_probes_never_queue_behind_a_check_in_progress():
    """While one thread waits on a hanging Patchworks, other probes answer at once."""
    from deployments_ui.views.health import cached_check

    started, release = threading.Event(), threading.Event()
    answers = iter([False])

    def slow() -> bool:
        started.set()
        release.wait(timeout=10)
        return next(answers)

    check = cached_check(slow)
    first = threading.Thread(target=check)
    first.start()
    assert started.wait(timeout=10)
    assert check() is True  # no result yet: answered at once, not queued
    release.set()
    first.join(timeout=10)
    check.forget()  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_readiness_asks_again_after_the_interval(client, patchworks, monkeypatch):
    patchworks.get(FLOWS, status=500)
    clock = [1000.0]
    monkeypatch.setattr("deployments_ui.views.health.time.monotonic", lambda: clock[0])
    assert client.get("/readyz").status_code == 503
    clock[0] += 10
    assert client.get("/readyz").status_code == 503
    assert len(patchworks.calls) == 1
    clock[0] += 6
    client.get("/readyz")
    assert len(patchworks.calls) == 2


@pytest.mark.django_db
def test_a_rate_limit_still_counts_as_reachable(client, patchworks):
    patchworks.get(FLOWS, status=429, headers={"Retry-After": "30"})
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["patchworks"] is True


def test_healthz_answers_head(client):
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_answers_head(client, patchworks):
    patchworks.get(FLOWS, status=401)
    assert client.head("/readyz").status_code == 200
