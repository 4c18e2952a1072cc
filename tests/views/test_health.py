"""Health endpoints: /healthz says the process is up, /readyz checks the database and Patchworks."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

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
