"""The leavers' cascade: one deactivation stops everything the person left running, audited,
in one transaction; the admin page's "active" tick box runs it too."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from deployments_ui import audit
from deployments_ui.leavers.cascade import deactivate
from deployments_ui.models import ApiCredential, AuditEvent
from tests.factories import make_user
from tests.leavers.things import assert_all_stopped, leave_things_running

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaver(db) -> User:
    return make_user("lee", "Operator", full_name="Lee Leaver", api_key="sandbox-key-operator")


@pytest.fixture
def colleague(db) -> User:
    return make_user("cole", "Operator", full_name="Cole League", api_key="sandbox-key-editor")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sessions_of(user: User) -> int:
    return sum(
        1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)
    )


def test_deactivating_stops_everything_and_records_each_step(leaver, colleague):
    browsers = [signed_in(leaver), signed_in(leaver)]
    colleagues_browser = signed_in(colleague)
    things = leave_things_running(leaver, colleague)

    result = deactivate(user=leaver, actor=audit.Actor.system("provisioning (SCIM)"), via="SCIM")

    leaver.refresh_from_db()
    assert not leaver.is_active
    assert (result.sessions, result.key_destroyed) == (2, True)
    assert (result.withdrawn, result.cancelled, result.stopped) == (1, 1, 2)
    assert sessions_of(leaver) == 0 and sessions_of(colleague) == 1
    assert not ApiCredential.objects.filter(user=leaver).exists()
    assert ApiCredential.objects.filter(user=colleague).exists()
    assert_all_stopped(things, "provisioning (SCIM)")
    for browser in browsers:
        assert browser.get("/deployments/")["Location"].startswith("/accounts/login/")
    assert colleagues_browser.get("/account/api-key/").status_code == 200
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "deactivated",
        "sessions_ended",
        "api_key_removed",
        "withdraw",
        "unschedule",
        "bulk_stopped",
        "bulk_stopped",
    ]
    first = AuditEvent.objects.order_by("id").first()
    assert first is not None
    assert (
        audit.describe(first) == "provisioning (SCIM) deactivated lee — switched off through SCIM"
    )
    withdrawn = AuditEvent.objects.get(action="withdraw")
    assert audit.describe(withdrawn) == (
        f"Provisioning (SCIM) withdrew change request {things.request.pk} to disable Orders in "
        "UK Live (live) — withdrawn because the person who asked was deactivated"
    )
    assert audit.verify_chain().ok


def test_the_audit_trail_failing_leaves_everything_as_it_was(leaver, colleague, monkeypatch):
    signed_in(leaver)
    things = leave_things_running(leaver, colleague)
    calls = {"n": 0}
    real = audit.trail.append

    def fails_on_the_fourth(event, check=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise audit.AuditUnavailable("down")
        return real(event, check)

    monkeypatch.setattr(audit.trail, "append", fails_on_the_fourth)
    with pytest.raises(audit.AuditUnavailable):
        deactivate(user=leaver, actor=audit.Actor.system(), via="SCIM")
    leaver.refresh_from_db()
    assert leaver.is_active
    assert ApiCredential.objects.filter(user=leaver).exists()
    assert sessions_of(leaver) == 1
    things.request.refresh_from_db()
    assert things.request.is_open
    assert not AuditEvent.objects.exists()


def test_running_it_again_changes_nothing_more(leaver, colleague):
    deactivate(user=leaver, actor=audit.Actor.system(), via="SCIM")
    again = deactivate(user=leaver, actor=audit.Actor.system(), via="SCIM")
    assert (again.sessions, again.key_destroyed, again.withdrawn, again.stopped) == (0, False, 0, 0)


def test_unticking_active_in_the_admin_runs_the_cascade(client, leaver, colleague, admin_user):
    leaver_browser = signed_in(leaver)
    things = leave_things_running(leaver, colleague)
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{leaver.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": "lee",
            "is_active": "",
            "groups": [g.pk for g in leaver.groups.all()],
            "date_joined_0": leaver.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": leaver.date_joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    data.pop("is_active")
    data.pop("user_permissions", None)
    data.pop("last_login", None)
    data.pop("date_joined", None)
    response = client.post(f"/admin/auth/user/{leaver.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    leaver.refresh_from_db()
    assert not leaver.is_active
    assert leaver_browser.get("/deployments/").status_code == 302
    assert_all_stopped(things, "Adam Admin")
    event = AuditEvent.objects.get(action="deactivated")
    assert event.actor_username == "adam"
    assert event.after == {"account": "lee", "via": "the admin page"}
    assert not ApiCredential.objects.filter(user=leaver).exists()


def test_ticking_active_again_in_the_admin_is_recorded(client, leaver, admin_user):
    leaver.is_active = False
    leaver.save()
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{leaver.pk}/change/")
    form = page.context["adminform"].form
    data = {
        "username": "lee",
        "is_active": "on",
        "groups": [g.pk for g in leaver.groups.all()],
        "date_joined_0": leaver.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": leaver.date_joined.strftime("%H:%M:%S"),
        "first_name": form.initial["first_name"],
        "last_name": form.initial["last_name"],
        "email": form.initial["email"],
    }
    assert client.post(f"/admin/auth/user/{leaver.pk}/change/", data).status_code == 302
    leaver.refresh_from_db()
    assert leaver.is_active
    assert AuditEvent.objects.filter(action="reactivated").count() == 1
