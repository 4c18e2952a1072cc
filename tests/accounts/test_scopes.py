"""Scoped roles: a person's role per environment type, environment and flow, on every route
(pages, htmx, bulk items, schedules, undo, approvals), against the sandbox over real HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from deployments_ui.accounts import access, scope_changes, scopes, sso
from deployments_ui.accounts.models import RoleScope
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.models import AuditEvent, BulkItem, BulkJob, ScheduledChange
from tests.changes.helpers import protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back
from tests.factories import actor_for, make_user

pytestmark = pytest.mark.django_db
TEST = DeploymentRef(deployment_id="1", environment_id="5", environment_type="test", flow_id="2")
LIVE = DeploymentRef(deployment_id="2", environment_id="7", environment_type="live", flow_id="2")
UK_LIVE = DeploymentRef(deployment_id="3", environment_id="9", environment_type="live", flow_id="3")


def scope(user: User, role: str, **place) -> RoleScope:
    made = RoleScope.objects.create(user=user, role=role, **place)
    scopes.forget(user)
    return made


@pytest.fixture
def tester(db) -> User:
    """The demo's tester: a Viewer, an Operator in test environments, a Viewer in live ones."""
    user = make_user("tess", "Viewer", full_name="Tess Tester", api_key="sandbox-key-tester")
    scope(user, "Operator", environment_type="test")
    scope(user, "Viewer", environment_type="live")
    return user


# The rule: the most specific scope decides


def test_a_type_scope_gives_or_takes_a_role_there_only(tester, operator):
    assert access.may_act(tester, "disable", TEST)
    assert not access.may_act(tester, "disable", LIVE)
    scope(operator, "Viewer", environment_type="live")
    assert access.may_act(operator, "disable", TEST)
    assert not access.may_act(operator, "disable", LIVE)


def test_an_environment_beats_its_type_and_a_flow_narrows_it(tester):
    scope(tester, "Editor", environment_id="9", environment_name="UK Live")
    scope(tester, "Viewer", environment_id="9", flow_id="3")
    assert access.may_act(tester, "update", DeploymentRef(environment_id="9", flow_id="4"))
    assert not access.may_act(tester, "disable", UK_LIVE)  # flow 3 in UK Live: Viewer
    assert not access.may_act(tester, "update", LIVE)  # another live environment


def test_an_unknown_environment_type_gets_the_least_any_type_scope_gives(tester):
    unknown = DeploymentRef(environment_id="12")
    assert not access.may_act(tester, "disable", unknown)


def test_global_deployments_are_a_place_of_their_own(viewer):
    scope(viewer, "Operator", environment_type="global")
    assert access.may_act(viewer, "enable", DeploymentRef(deployment_id="4"))
    assert not access.may_act(viewer, "enable", TEST)


def test_a_scope_opens_the_page_and_the_place_decides_the_change(tester, viewer):
    assert access.may(tester, "deployment-disable") and access.may(tester, "deployment-bulk")
    assert not access.may(viewer, "deployment-disable")
    assert not access.may(tester, "deployment-edit")
    assert "Not yours to change" in access.still_may_act(tester, "disable", "Tess", LIVE)


def test_scopes_never_give_console_permissions(tester):
    scope(tester, "Editor", environment_type="global")
    assert not tester.has_perm("deployments_ui.manage_console")
    assert not access.may(tester, "service-key")


# Pages and htmx


def test_the_detail_page_offers_enable_or_disable_only_where_allowed(client, tester, on_sandbox):
    client.force_login(tester)
    in_test = find_deployment(on_sandbox, enabled=True, live=False)
    in_live = find_deployment(on_sandbox, enabled=True, live=True)
    assert "toggle-form" in client.get(deployment_url(in_test)).content.decode()
    assert "toggle-form" not in client.get(deployment_url(in_live)).content.decode()


def test_the_list_shows_buttons_on_test_rows_only(client, tester, on_sandbox):
    client.force_login(tester)
    page = client.get("/deployments/?per_page=100").content.decode()
    rows = page.split('<tr id="deployment-row-')[1:]
    live_rows = [row for row in rows if "badge-live" in row]
    test_rows = [row for row in rows if "badge-test" in row]
    assert live_rows and test_rows
    assert not any('class="toggle-form"' in row for row in live_rows)
    assert all('class="toggle-form"' in row for row in test_rows)


def test_a_live_disable_by_htmx_is_refused_and_nothing_is_sent(client, tester, on_sandbox):
    client.force_login(tester)
    item = find_deployment(on_sandbox, enabled=True, live=True)
    on_sandbox.clear_requests()
    response = client.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": "outage", "fragment": "row"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert api_writes(on_sandbox) == []
    refusal = AuditEvent.objects.get(action="disable", outcome="refused")
    assert refusal.message.startswith("Not yours to change")
    assert read_back(on_sandbox, item)["enabled_at"]


def test_a_test_disable_goes_through(client, tester, on_sandbox):
    client.force_login(tester)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    assert not read_back(on_sandbox, item)["enabled_at"]


def test_an_editor_out_of_scope_gets_no_edit_or_delete_form(client, editor, on_sandbox):
    scope(editor, "Viewer", environment_type="live")
    client.force_login(editor)
    item = find_deployment(on_sandbox, enabled=True, live=True)
    for page in ("edit/", "delete/"):
        response = client.get(deployment_url(item, page))
        assert response.status_code == 403
        assert "Not yours to change" in response.content.decode()


# Bulk, schedules, undo, approvals


def test_bulk_skips_the_items_that_are_not_yours(client, tester, on_sandbox):
    client.force_login(tester)
    in_test = find_deployment(on_sandbox, enabled=True, live=False)
    in_live = find_deployment(on_sandbox, enabled=True, live=True)
    chosen = [f"{i['flow_version_id']}:{i['id']}" for i in (in_test, in_live)]
    preview = client.post(
        "/deployments/bulk/", {"action": "disable", "reason": "x", "deployment": chosen}
    )
    assert "1 is not yours to change and will be skipped" in preview.content.decode()
    client.post(
        "/deployments/bulk/",
        {"action": "disable", "reason": "x", "deployment": chosen, "confirmed": "1"},
    )
    job = BulkJob.objects.get()
    items = {item.deployment_id: item for item in job.items.all()}
    assert items[str(in_test["id"])].status == BulkItem.Status.DONE
    skipped = items[str(in_live["id"])]
    assert skipped.status == BulkItem.Status.SKIPPED
    assert skipped.message.startswith("Not yours to change")
    assert read_back(on_sandbox, in_live)["enabled_at"]
    assert not read_back(on_sandbox, in_test)["enabled_at"]


def test_a_bulk_item_whose_scope_was_taken_away_is_skipped_at_its_turn(tester, on_sandbox):
    from deployments_ui.bulk import services as bulk

    item = find_deployment(on_sandbox, enabled=True, live=False)
    preview = bulk.preview_ids(
        user=tester, action="disable", pairs=[(str(item["flow_version_id"]), str(item["id"]))]
    )
    assert not preview.not_yours
    # Between the preview and the run: still an Operator somewhere (global deployments), no
    # longer in test environments. The worker (immediate in tests) runs the job.
    RoleScope.objects.filter(user=tester, environment_type="test").update(environment_type="global")
    job = bulk.start_job(actor=actor_for(tester), user=tester, preview=preview, reason="x")
    skipped = job.items.get()
    assert skipped.status == BulkItem.Status.SKIPPED
    assert skipped.message.startswith("Not yours to change")
    assert read_back(on_sandbox, item)["enabled_at"]


def test_scheduling_a_live_change_is_refused_and_a_test_one_is_asked(client, tester, on_sandbox):
    from tests.schedules.test_schedules import in_an_hour

    client.force_login(tester)
    in_live = find_deployment(on_sandbox, enabled=True, live=True)
    in_test = find_deployment(on_sandbox, enabled=True, live=False)
    data = {"action": "disable", "at": in_an_hour(), "reason": "maintenance"}
    refused = client.post(deployment_url(in_live, "schedule/"), data)
    assert refused.status_code == 403
    assert not ScheduledChange.objects.exists()
    client.post(deployment_url(in_test, "schedule/"), data)
    assert ScheduledChange.objects.filter(deployment_id=str(in_test["id"])).exists()


def test_a_schedule_whose_scope_was_taken_away_fails_at_its_time(client, tester, on_sandbox):
    from deployments_ui.schedules import applying
    from tests.schedules.test_schedules import in_an_hour, make_due

    client.force_login(tester)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    data = {"action": "disable", "at": in_an_hour(), "reason": "maintenance"}
    client.post(deployment_url(item, "schedule/"), data)
    change = ScheduledChange.objects.get()
    RoleScope.objects.filter(user=tester, environment_type="test").update(environment_type="global")
    make_due(change)
    on_sandbox.clear_requests()
    applying.apply_change(change.pk)
    change.refresh_from_db()
    assert change.status == ScheduledChange.Status.FAILED
    assert "Not yours to change" in change.result_message
    assert api_writes(on_sandbox) == []


def test_undo_is_offered_and_allowed_only_in_scope(client, operator, tester, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    event = AuditEvent.objects.filter(action="disable", outcome="pending").latest("id")
    client.force_login(tester)
    page = client.get(f"/audit/{event.pk}/").content.decode()
    assert "Your role does not allow this kind of change." in page
    assert 'name="confirmed"' not in page
    on_sandbox.clear_requests()
    client.post(f"/audit/{event.pk}/undo/", {"reason": "back", "confirmed": "1"})
    assert api_writes(on_sandbox) == []
    assert not read_back(on_sandbox, item)["enabled_at"]


def test_an_approver_must_hold_the_scope_of_the_change(client, operator, tester, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    request = ChangeRequest.objects.get()
    client.force_login(tester)
    client.post(f"/changes/{request.pk}/approve/", {"revision": request.revision})
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.OPEN
    assert not request.approvals().exists()


def test_an_approver_who_lost_the_scope_stops_the_apply(client, operator, editor, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "x"})
    request = ChangeRequest.objects.get()
    client.force_login(editor)
    client.post(f"/changes/{request.pk}/approve/", {"revision": request.revision})
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.APPROVED
    scope(editor, "Viewer", environment_type="live")
    client.force_login(operator)
    on_sandbox.clear_requests()
    client.post(f"/changes/{request.pk}/apply/")
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.FAILED
    assert "Not yours to change" in request.outcome_message
    assert api_writes(on_sandbox) == []


# The Admin's page


def test_an_admin_gives_and_removes_a_scope_and_each_change_is_audited(client, admin_user, tester):
    client.force_login(admin_user)
    page = client.get(f"/settings/people/{tester.pk}/roles/").content.decode()
    assert "Operator" in page and "test environments" in page
    client.post(
        f"/settings/people/{tester.pk}/roles/",
        {"give": "1", "role": "Editor", "place": "global", "flow": ""},
    )
    given = RoleScope.objects.get(user=tester, environment_type="global")
    assert given.role == "Editor"
    event = AuditEvent.objects.filter(action="roles_changed").latest("id")
    assert "Editor in global deployments (no environment)" in event.after["roles"]
    assert "Editor in global deployments (no environment)" not in event.before["roles"]
    client.post(f"/settings/people/{tester.pk}/roles/", {"remove": str(given.pk)})
    assert not RoleScope.objects.filter(pk=given.pk).exists()
    removed = AuditEvent.objects.filter(action="roles_changed").latest("id")
    assert removed.pk != event.pk and removed.before["roles"] == event.after["roles"]


def test_only_admins_open_the_page(client, editor, tester):
    client.force_login(editor)
    assert client.get(f"/settings/people/{tester.pk}/roles/").status_code == 403
    assert (
        client.post(
            f"/settings/people/{tester.pk}/roles/", {"give": "1", "role": "Editor", "place": "live"}
        ).status_code
        == 403
    )
    assert not RoleScope.objects.filter(role="Editor").exists()


def test_one_environment_needs_choosing(client, admin_user, tester):
    client.force_login(admin_user)
    response = client.post(
        f"/settings/people/{tester.pk}/roles/",
        {"give": "1", "role": "Editor", "place": "environment"},
    )
    assert response.status_code == 400
    assert "Choose the environment." in response.content.decode()


# Single sign-on groups


def test_group_names_map_to_scopes(settings):
    settings.SSO_GROUP_SCOPES = {
        "ops-test": "Operator@test",
        "uk-live": "Editor@env:9;Viewer@env:9/flow:3",
        "typo": "Boss@moon",
    }
    found = scope_changes.scopes_from_groups(["ops-test", "uk-live", "typo", "other"])
    assert found == [
        ("Operator", scope_changes.Place(environment_type="test")),
        ("Editor", scope_changes.Place(environment_id="9")),
        ("Viewer", scope_changes.Place(environment_id="9", flow_id="3")),
    ]


def test_sso_groups_replace_their_own_scopes_and_keep_an_admins(settings, viewer):
    settings.SSO_GROUP_SCOPES = {"ops-test": "Operator@test", "live-watch": "Viewer@live"}
    scope(viewer, "Editor", environment_id="9")
    actor = actor_for(None, name="single sign-on")
    sso.sync_roles(actor, viewer, ["Viewer"], groups=["ops-test", "live-watch"])
    assert access.may_act(viewer, "enable", TEST)
    sso.sync_roles(actor, viewer, ["Viewer"], groups=["live-watch"])
    scopes.forget(viewer)
    assert not access.may_act(viewer, "enable", TEST)
    assert access.may_act(viewer, "update", DeploymentRef(environment_id="9"))
    changes = AuditEvent.objects.filter(action="roles_changed").order_by("id")
    assert changes.count() == 2
    assert "Operator in test environments" in changes[0].after["roles"]
    assert "Operator in test environments" in changes[1].before["roles"]


def test_the_groups_header_gives_and_takes_scopes_at_sign_in(client, settings):
    import ipaddress

    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.SSO_GROUPS_HEADER = "X-Forwarded-Groups"
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    settings.SSO_GROUP_ROLES = {"viewers": "Viewer"}
    settings.SSO_GROUP_SCOPES = {"ops-test": "Operator@test"}

    def visit(groups: str) -> None:
        headers = {"X-Forwarded-Email": "tess@example.com", "X-Forwarded-Groups": groups}
        client.get("/schedules/", REMOTE_ADDR="10.0.0.5", headers=headers)

    visit("viewers,ops-test")
    tess = User.objects.get(username="tess@example.com")
    assert [g.name for g in tess.groups.all()] == ["Viewer"]
    assert access.may_act(tess, "enable", TEST) and not access.may_act(tess, "enable", LIVE)
    visit("viewers")
    tess = User.objects.get(pk=tess.pk)
    assert not RoleScope.objects.filter(user=tess).exists()
    assert not access.may_act(tess, "enable", TEST)


def test_without_scopes_every_place_gives_the_role_group_worked_out_once(operator, monkeypatch):
    asked = []
    everything = type(operator).get_all_permissions
    monkeypatch.setattr(
        type(operator), "get_all_permissions", lambda self: asked.append(1) or everything(self)
    )
    places = [DeploymentRef(deployment_id=str(n), flow_id=str(n)) for n in range(100)]
    for place in [TEST, LIVE, UK_LIVE, *places]:
        assert access.may_act(operator, "disable", place)
    assert scopes.permissions_at(operator, LIVE) == scopes.permissions_at(operator, None)
    assert len(asked) == 1
    scope(operator, "Viewer", environment_type="live")
    assert not access.may_act(operator, "disable", LIVE)
    assert access.may_act(operator, "disable", TEST)
