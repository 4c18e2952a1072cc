"""Health endpoints: /healthz says the process is up, /readyz checks the database and Patchworks."""

from __future__ import annotations

import pytest


def test_healthz_answers_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


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
