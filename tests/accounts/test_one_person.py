"""One person, one identity, and no impersonation: four-eyes approval counts people, an Admin
cannot become someone else, and role changes stop what they no longer allow."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, User

from deployments_ui.accounts import same_person
from deployments_ui.accounts.credentials import store_api_key
from deployments_ui.accounts.models import AdminSetPassword, PersonLink, RoleScope, SsoIdentity
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent, ScheduledChange
from tests.changes.helpers import protect
from tests.deployments import api_writes, deployment_url, find_deployment
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.5"


def sso_account(identity: str, role: str, key: str | None = None) -> User:
    """An account single sign-on made for `identity`, as on a first sign-in."""
    user = User.objects.create(username=identity, email=identity)
    user.groups.add(Group.objects.get(name=role))
    SsoIdentity.objects.create(identity=identity, user=user)
    if key:
        store_api_key(user, key)
    return user


def ask_live_disable(client, person, sandbox) -> ChangeRequest:
    protect("live")
    item = find_deployment(sandbox, enabled=True, live=True)
    client.force_login(person)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    return ChangeRequest.objects.get()


def approve(client, person, request: ChangeRequest) -> str:
    client.force_login(person)
    response = client.post(
        f"/changes/{request.pk}/approve/", {"revision": request.revision}, follow=True
    )
    request.refresh_from_db()
    return response.content.decode()


# Two accounts of one person


def test_the_sso_identity_of_the_local_asker_cannot_approve(client, operator, on_sandbox):
    request = ask_live_disable(client, operator, on_sandbox)
    same = sso_account("oscar@example.com", "Editor")
    page = approve(client, same, request)
    assert request.status == ChangeRequest.Status.OPEN and not request.approvals().exists()
    assert "under this account or another of yours" in page
    refusal = AuditEvent.objects.get(action="approve", outcome="refused")
    assert "under any account" in refusal.message
    assert api_writes(on_sandbox) == []


def test_a_renamed_identity_linked_by_an_admin_is_the_same_person(client, admin_user, on_sandbox):
    alice = sso_account("alice@example.com", "Operator", key="sandbox-key-operator")
    renamed = sso_account("alice.smith@example.com", "Editor")
    assert not same_person.same_person(alice, renamed)  # before the link: two people
    client.force_login(admin_user)
    client.post(
        f"/settings/people/{alice.pk}/roles/",
        {"link_identity": "1", "identity": "Alice.Smith@example.com"},
    )
    assert SsoIdentity.objects.get(identity="alice.smith@example.com").user == alice
    assert same_person.same_person(alice, renamed)
    linked = AuditEvent.objects.get(action="sso_linked")
    assert linked.after["identity"] == "alice.smith@example.com"
    request = ask_live_disable(client, alice, on_sandbox)
    approve(client, renamed, request)
    assert request.status == ChangeRequest.Status.OPEN


def test_a_renamed_identity_then_signs_in_to_the_first_account(client, settings, admin_user):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    alice = sso_account("alice@example.com", "Operator")
    client.force_login(admin_user)
    client.post(
        f"/settings/people/{alice.pk}/roles/",
        {"link_identity": "1", "identity": "alice.smith@example.com"},
        REMOTE_ADDR="127.0.0.1",
    )
    client.logout()
    client.get(
        "/deployments/", REMOTE_ADDR=PROXY, headers={"X-Forwarded-Email": "alice.smith@example.com"}
    )
    assert client.session[SESSION_KEY] == str(alice.pk)
    assert not User.objects.filter(username="alice.smith@example.com").exists()


def test_an_admin_links_two_accounts_and_it_is_audited(client, admin_user, operator, editor):
    client.force_login(admin_user)
    client.post(f"/settings/people/{operator.pk}/roles/", {"link_account": "1", "username": "edie"})
    assert PersonLink.objects.filter(account=operator, same_as=editor).exists()
    assert same_person.same_person(editor, operator)
    event = AuditEvent.objects.get(action="sso_linked")
    assert event.after["account"] == "oscar" and event.after["identity"] == "edie"
    page = client.get(f"/settings/people/{operator.pk}/roles/").content.decode()
    assert "Also this person: <strong>edie</strong>" in page


def test_a_link_made_after_the_approval_stops_the_apply(client, operator, editor, on_sandbox):
    request = ask_live_disable(client, operator, on_sandbox)
    request.apply_when_approved = False
    request.save(update_fields=["apply_when_approved"])
    approve(client, editor, request)
    assert request.status == ChangeRequest.Status.APPROVED
    PersonLink.objects.create(account=operator, same_as=editor)
    client.force_login(operator)
    client.post(f"/changes/{request.pk}/apply/")
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.FAILED
    assert "is the person who asked" in request.outcome_message
    assert api_writes(on_sandbox) == []


# Local sign-in kept for break-glass accounts


def test_with_sso_on_only_the_named_accounts_sign_in_with_a_password(client, settings, viewer):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.LOCAL_LOGIN_ACCOUNTS = ["breakglass"]
    make_user("breakglass", "Admin")
    refused = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert SESSION_KEY not in client.session
    assert "break-glass accounts" in refused.content.decode()
    client.post("/accounts/login/", {"username": "breakglass", "password": PASSWORD})
    assert SESSION_KEY in client.session


def test_without_sso_the_list_does_not_apply(client, settings, viewer):
    settings.SSO_HEADER = ""
    settings.LOCAL_LOGIN_ACCOUNTS = ["breakglass"]
    client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert SESSION_KEY in client.session


# No impersonation


def test_an_admin_cannot_set_another_persons_password(client, admin_user, operator):
    client.force_login(admin_user)
    url = f"/admin/auth/user/{operator.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(
        url, {"password1": "N3w-long-passw0rd!", "password2": "N3w-long-passw0rd!"}
    )
    assert response.status_code == 403
    operator.refresh_from_db()
    assert operator.check_password(PASSWORD)


def test_a_superuser_may_but_it_is_audited_and_the_account_cannot_approve(
    client, admin_user, operator, editor, on_sandbox
):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    new = "N3w-long-passw0rd!"
    response = client.post(
        f"/admin/auth/user/{editor.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert AdminSetPassword.objects.filter(user=editor, set_by=admin_user).exists()
    event = AuditEvent.objects.get(action="password_set")
    assert event.after["account"] == "edie"
    request = ask_live_disable(client, operator, on_sandbox)
    editor.refresh_from_db()  # its new password
    page = approve(client, editor, request)
    assert request.status == ChangeRequest.Status.OPEN
    assert "cannot approve changes until a day has passed" in page


def test_a_superuser_cannot_set_the_password_of_an_sso_only_account(
    client, settings, admin_user, operator
):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.LOCAL_LOGIN_ACCOUNTS = ["adam"]
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    assert client.get(f"/admin/auth/user/{operator.pk}/password/").status_code == 403


# Role changes re-check what waits


def test_taking_a_scope_away_cancels_schedules_and_withdraws_requests_there(
    client, admin_user, on_sandbox
):
    from tests.schedules.test_schedules import in_an_hour

    tess = make_user("tess", "Viewer", full_name="Tess Tester", api_key="sandbox-key-tester")
    test_scope = RoleScope.objects.create(user=tess, role="Operator", environment_type="test")
    RoleScope.objects.create(user=tess, role="Operator", environment_type="live")
    protect("live")
    in_test = find_deployment(on_sandbox, enabled=True, live=False)
    in_live = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(tess)
    data = {"action": "disable", "at": in_an_hour(), "reason": "maintenance"}
    client.post(deployment_url(in_test, "schedule/"), data)
    client.post(deployment_url(in_live, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    request = ChangeRequest.objects.get()
    schedule = ScheduledChange.objects.get()

    client.force_login(admin_user)
    client.post(f"/settings/people/{tess.pk}/roles/", {"remove": str(test_scope.pk)})

    schedule.refresh_from_db()
    request.refresh_from_db()
    assert schedule.status == ScheduledChange.Status.CANCELLED
    assert "no longer allows it" in schedule.result_message
    assert request.status == ChangeRequest.Status.OPEN  # live is still theirs


def test_the_askers_other_account_is_not_offered_or_told_to_approve(client, operator, on_sandbox):
    from deployments_ui.changes import requests

    request = ask_live_disable(client, operator, on_sandbox)
    same = sso_account("oscar@example.com", "Editor")
    client.force_login(same)
    page = client.get(f"/changes/{request.pk}/").content.decode()
    assert "/approve/" not in page
    assert requests.waiting_for(same) == []


def test_taking_a_scope_away_skips_the_bulk_items_not_yet_sent_there(
    admin_user, on_sandbox, monkeypatch
):
    from deployments_ui.accounts import scope_changes
    from deployments_ui.bulk import services as bulk
    from deployments_ui.models import BulkItem
    from tests.factories import actor_for

    monkeypatch.setattr(bulk, "enqueue", lambda job: None)  # the worker has not started it yet
    tess = make_user("tess", "Viewer", full_name="Tess Tester", api_key="sandbox-key-tester")
    test_scope = RoleScope.objects.create(user=tess, role="Operator", environment_type="test")
    RoleScope.objects.create(user=tess, role="Operator", environment_type="global")
    item = find_deployment(on_sandbox, enabled=True, live=False)
    preview = bulk.preview_ids(
        user=tess, action="disable", pairs=[(str(item["flow_version_id"]), str(item["id"]))]
    )
    job = bulk.start_job(actor=actor_for(tess), user=tess, preview=preview, reason="x")
    assert job.items.get().status == BulkItem.Status.PENDING

    scope_changes.remove_scope(actor=actor_for(admin_user), person=tess, scope_id=test_scope.pk)

    skipped = job.items.get()
    assert skipped.status == BulkItem.Status.SKIPPED
    assert skipped.message.startswith("Not yours to change")


def test_a_password_given_to_a_new_account_is_audited_and_pauses_its_approvals(client, admin_user):
    client.force_login(admin_user)
    secret = "N3w-long-passw0rd!"
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "usable_password": "true", "password1": secret, "password2": secret},
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert AdminSetPassword.objects.filter(user=newbie, set_by=admin_user).exists()
    assert AuditEvent.objects.get(action="password_set").after["account"] == "newbie"
    assert same_person.approval_pause(newbie)
