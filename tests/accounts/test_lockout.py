"""Sign-in lockouts across addresses, and failed sign-ins, lockouts and unlocks in the audit log."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client

from deployments_ui.audit import describe
from deployments_ui.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str = PASSWORD, addr: str = "198.51.100.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=addr)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_an_account_is_paused_after_failures_from_many_addresses(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 5
    # One try from each address: no single address ever reaches its own limit.
    for n in range(5):
        assert sign_in(client, "vera", "guess", addr=f"198.51.100.{n + 1}").status_code == 200

    locked = sign_in(client, "vera", addr="198.51.100.99")  # the right password, a new address

    assert locked.status_code == 429
    assert b"too many wrong attempts" in locked.content
    assert SESSION_KEY not in client.session
    [paused] = events("locked_out")
    assert paused.after == {"account": "vera"}
    assert "from any address" in paused.message


def test_the_account_limit_leaves_other_people_alone(client, viewer, operator, settings):
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 2
    for n in range(2):
        sign_in(client, "vera", "guess", addr=f"198.51.100.{n + 1}")
    assert sign_in(Client(), "oscar", addr="198.51.100.1").status_code == 302


def test_each_failed_sign_in_is_an_audit_event_with_where_it_came_from(client, viewer):
    sign_in(client, "vera", "guess", addr="198.51.100.7")

    [failed] = events("sign_in_failed")
    assert failed.outcome == "failed"
    assert failed.ip_address == "198.51.100.7"
    assert failed.user_id is None
    assert describe(failed) == "Failed sign-in as vera: wrong username or password"


def test_attempts_while_locked_are_not_recorded_again(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "vera", "guess")
    assert len(events("sign_in_failed")) == 2
    [locked] = events("locked_out")
    assert "from one address" in locked.message
    assert describe(locked).startswith("Sign-in as vera paused:")

    for _ in range(5):
        assert sign_in(client, "vera", "guess").status_code == 429

    assert len(events("sign_in_failed")) == 2
    assert len(events("locked_out")) == 1


def test_unlocking_in_the_admin_is_recorded(client, viewer, admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "vera", "guess")
    attempt = AccessAttempt.objects.get(username="vera")
    admin_user.is_superuser = True  # lockouts are a superuser's to lift in the admin
    admin_user.save()
    admin = Client()
    admin.force_login(admin_user)

    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    [unlocked] = events("unlocked")
    assert unlocked.actor_username == "adam"
    assert describe(unlocked) == "Adam Admin unlocked sign-in as vera"
    assert sign_in(client, "vera").status_code == 302


def test_unlocking_with_the_command_is_recorded_and_clears_the_account_limit(
    client, viewer, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "vera", "guess")
    assert sign_in(client, "vera", addr="192.0.2.50").status_code == 429  # the account limit

    call_command("axes_reset_username", "vera")

    [unlocked] = events("unlocked")
    assert unlocked.sign_in_method == "system"
    assert sign_in(client, "vera", addr="192.0.2.50").status_code == 302


def pause_from_many_addresses(username: str, settings, count: int = 4) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = count
    for n in range(count):
        sign_in(Client(), username, "guess", addr=f"203.0.113.{n + 1}")


def test_a_stranger_cannot_keep_the_owner_of_an_account_out(client, viewer, settings):
    assert sign_in(client, "vera").status_code == 302  # the owner's own browser, earlier
    client.post("/accounts/logout/")

    pause_from_many_addresses("vera", settings)

    assert sign_in(Client(), "vera", addr="198.51.100.99").status_code == 429  # a new browser
    assert sign_in(client, "vera").status_code == 302  # the owner's browser still gets in
    assert client.session[SESSION_KEY] == str(viewer.pk)


def test_a_known_browser_is_still_held_by_its_own_address_limit(client, viewer, settings):
    assert sign_in(client, "vera").status_code == 302
    client.post("/accounts/logout/")
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "vera", "guess")

    assert sign_in(client, "vera").status_code == 429


def test_a_forged_known_browser_cookie_does_not_count(client, viewer, settings):
    pause_from_many_addresses("vera", settings)
    client.cookies["console_known_browser"] = "anything"

    assert sign_in(client, "vera").status_code == 429


def test_the_command_lifts_a_pause_from_many_addresses(client, viewer, settings):
    pause_from_many_addresses("vera", settings)
    assert sign_in(client, "vera", addr="192.0.2.50").status_code == 429
    assert not AccessAttempt.objects.filter(failures_since_start__gte=3).exists()

    call_command("axes_reset_username", "vera")

    assert sign_in(client, "vera", addr="192.0.2.50").status_code == 302
    [unlocked] = events("unlocked")
    assert describe(unlocked).startswith("Sign-in as vera unlocked")
