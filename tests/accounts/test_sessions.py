"""The idle timeout renews the session at most every few minutes, not on every request."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session


@pytest.mark.django_db
def test_the_session_is_renewed_at_most_once_per_interval(client, viewer, settings, monkeypatch):
    settings.SESSION_RENEW_SECONDS = 300
    clock = [1_000_000.0]
    monkeypatch.setattr("deployments_ui.middleware.time.time", lambda: clock[0])
    client.force_login(viewer)
    client.get("/account/api-key/")
    first_expiry = Session.objects.get().expire_date

    clock[0] += 60
    client.get("/account/api-key/")
    assert Session.objects.get().expire_date == first_expiry

    clock[0] += 300
    client.get("/account/api-key/")
    assert Session.objects.get().expire_date > first_expiry


@pytest.mark.django_db
def test_an_idle_session_ends(client, viewer, settings):
    settings.SESSION_COOKIE_AGE = 1
    client.force_login(viewer)
    Session.objects.update(expire_date="2000-01-01T00:00:00Z")
    response = client.get("/deployments/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
