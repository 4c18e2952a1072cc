"""Signing in and out with a password: redirects, lockout, the session and the local switch."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import SESSION_KEY

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str = PASSWORD, next_url: str | None = None):
    data = {"username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post(LOGIN, data)


def test_it_shows_the_form(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'<label for="id_username">Username</label>' in response.content
    assert b'type="password"' in response.content


def test_it_signs_in_and_goes_to_the_deployments(client, viewer):
    response = sign_in(client, "vera")
    assert response.status_code == 302
    assert response["Location"] == "/deployments/"
    assert int(client.session[SESSION_KEY]) == viewer.pk
    assert client.session["sign_in_method"] == "password"


def test_it_gives_a_new_session_key_at_sign_in(client, viewer):
    client.get(LOGIN)
    session = client.session
    session["before"] = "anonymous"
    session.save()
    before = session.session_key
    sign_in(client, "vera")
    assert client.session.session_key != before


def test_a_wrong_password_is_refused_in_plain_words(client, viewer):
    response = sign_in(client, "vera", "not-the-password")
    assert response.status_code == 200
    assert b"That username and password do not match" in response.content
    assert SESSION_KEY not in client.session
    assert b"not-the-password" not in response.content


def test_it_follows_next_within_the_console(client, viewer):
    response = sign_in(client, "vera", next_url="/deployments/?page=2&sort=-enabled_at")
    assert response["Location"] == "/deployments/?page=2&sort=-enabled_at"


def test_the_login_form_carries_next(client):
    response = client.get(LOGIN, {"next": "/audit/"})
    assert b'name="next" value="/audit/"' in response.content


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/deployments/",
        "https://evil.com",
        "http://evil.com/deployments/",
        "/\\evil.com",
        "\\\\evil.com",
        "\\/evil.com",
        "/\\/evil.com",
        "https:evil.com",
        "javascript:alert(1)",
        "http://testserver.evil.com/",
        " //evil.com",
        "\t//evil.com",
        "///evil.com",
        "deployments/",
    ],
)
def test_next_cannot_lead_out_of_the_console(client, viewer, target):
    page = client.get(LOGIN, {"next": target})
    assert b'name="next"' not in page.content
    response = sign_in(client, "vera", next_url=target)
    assert response.status_code == 302
    assert response["Location"] == "/deployments/"


def test_next_cannot_be_an_absolute_url_to_this_console_either(client, viewer):
    # Only paths: an absolute URL could name this host over plain http, or another port.
    response = sign_in(client, "vera", next_url="http://testserver/audit/")
    assert response["Location"] == "/deployments/"


def test_a_signed_in_person_opening_the_login_page_goes_on(client, viewer):
    client.force_login(viewer)
    assert client.get(LOGIN, {"next": "/audit/"})["Location"] == "/audit/"
    assert client.get(LOGIN, {"next": "//evil.com"})["Location"] == "/deployments/"
    assert client.get(LOGIN, {"next": LOGIN})["Location"] == "/deployments/"


def test_it_locks_out_after_repeated_failures(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert sign_in(client, "vera", "guess").status_code == 200
    locked = sign_in(client, "vera", "guess")
    assert locked.status_code == 429
    assert b"too many wrong attempts" in locked.content
    assert b"try again in 15 minutes" in locked.content
    # The right password does not help while locked out.
    again = sign_in(client, "vera")
    assert again.status_code == 429
    assert SESSION_KEY not in client.session
    attempt = AccessAttempt.objects.get(username="vera")
    assert attempt.failures_since_start >= 3
    assert attempt.ip_address == "127.0.0.1"
    assert AccessFailureLog.objects.filter(username="vera", locked_out=True).exists()


def test_a_lockout_is_per_user_name(client, viewer, operator, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "vera", "guess")
    assert sign_in(client, "oscar").status_code == 302


def test_signing_out_is_post_only(client, viewer):
    client.force_login(viewer)
    assert client.get("/accounts/logout/").status_code == 405
    assert SESSION_KEY in client.session
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert SESSION_KEY not in client.session
    assert b"You have signed out" in client.get(LOGIN).content


def test_signing_out_checks_csrf(viewer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    assert client.post("/accounts/logout/").status_code == 403
    assert SESSION_KEY in client.session


def test_with_local_login_off_the_page_points_to_sso(client, viewer, settings):
    settings.LOCAL_LOGIN_ENABLED = False
    settings.SSO_HEADER = "X-Forwarded-Email"
    page = client.get(LOGIN)
    assert b"single sign-on" in page.content
    assert b'type="password"' not in page.content
    response = sign_in(client, "vera")
    assert response.status_code == 403
    assert SESSION_KEY not in client.session
    assert not AccessAttempt.objects.exists()


def test_with_sso_on_the_password_form_remains_unless_switched_off(client, settings):
    settings.SSO_HEADER = "X-Forwarded-Email"
    page = client.get(LOGIN)
    assert b"single sign-on signs you in automatically" in page.content
    assert b'type="password"' in page.content
