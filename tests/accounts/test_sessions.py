"""The idle timeout renews the session at most every few minutes, not on every request."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from tests.factories import PASSWORD


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


@pytest.mark.django_db
def test_a_session_ends_at_its_maximum_age_however_active(client, viewer, settings, monkeypatch):
    settings.SESSION_MAX_AGE = 12 * 3600
    settings.SESSION_RENEW_SECONDS = 60
    clock = [1_000_000.0]
    monkeypatch.setattr("deployments_ui.middleware.time.time", lambda: clock[0])
    client.post("/accounts/login/", {"username": viewer.username, "password": PASSWORD})
    # Active all day, well inside the idle timeout each time.
    for _ in range(11):
        clock[0] += 3600
        assert client.get("/account/api-key/").status_code == 200

    clock[0] += 3600
    response = client.get("/account/api-key/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_session_from_before_the_maximum_age_starts_counting_when_seen(
    client, viewer, settings, monkeypatch
):
    settings.SESSION_MAX_AGE = 3600
    clock = [1_000_000.0]
    monkeypatch.setattr("deployments_ui.middleware.time.time", lambda: clock[0])
    client.force_login(viewer)
    session = client.session
    session.pop("signed_in_at", None)
    session.save()

    assert client.get("/account/api-key/").status_code == 200
    clock[0] += 3601
    assert client.get("/account/api-key/").status_code == 302
