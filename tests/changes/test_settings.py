"""The Admins' pages: change control rules and freeze windows, each change audited."""

from __future__ import annotations

import io
from datetime import time

import pytest
from django.core.management import call_command

from deployments_ui.changes.models import ChangeRule, FreezeWindow
from deployments_ui.changes.rules import rule_for
from deployments_ui.core.identity import EnvironmentRef
from deployments_ui.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, admin_user, on_sandbox):
    client.force_login(admin_user)
    return client


def test_rules_are_off_until_an_admin_turns_them_on(signed_in):
    assert rule_for(EnvironmentRef(id="1", type="live")).needs_approval is False
    page = signed_in.get("/settings/change-control/").content.decode()
    assert "Every live environment" in page and "Every test environment" in page
    assert "checked" not in page.split("One environment at a time")[0]


def test_an_admin_protects_live_environments(signed_in):
    response = signed_in.post(
        "/settings/change-control/",
        {
            "type-live-needs_approval": "1",
            "type-live-approvals": "2",
            "type-live-confirm_name": "1",
        },
        follow=True,
    )
    assert "Saved the change control rules." in response.content.decode()
    rule = ChangeRule.objects.get(environment_type="live")
    assert (rule.needs_approval, rule.approvals_required, rule.confirm_name) == (True, 2, True)
    assert rule_for(EnvironmentRef(id="99", type="live")).approvals_required == 2
    assert rule_for(EnvironmentRef(id="99", type="test")).needs_approval is False
    event = AuditEvent.objects.get(action="control_settings")
    assert "every live environment: needs 2 approvals, type the name to confirm" in event.message
    # Saving the same rules again records nothing new.
    signed_in.post(
        "/settings/change-control/",
        {
            "type-live-needs_approval": "1",
            "type-live-approvals": "2",
            "type-live-confirm_name": "1",
        },
    )
    assert AuditEvent.objects.filter(action="control_settings").count() == 1


def test_one_environment_can_have_its_own_rule(signed_in, on_sandbox):
    page = signed_in.get("/settings/change-control/").content.decode()
    env_id = page.split('name="env-', 1)[1].split("-own", 1)[0]
    signed_in.post(
        "/settings/change-control/",
        {
            "type-live-needs_approval": "1",
            f"env-{env_id}-own": "1",
            f"env-{env_id}-confirm_name": "1",
        },
    )
    own = rule_for(EnvironmentRef(id=env_id, type="live"))
    assert own.needs_approval is False and own.confirm_name is True
    signed_in.post("/settings/change-control/", {"type-live-needs_approval": "1"})
    assert not ChangeRule.objects.filter(environment_id=env_id).exists()
    assert rule_for(EnvironmentRef(id=env_id, type="live")).needs_approval is True
    assert "back to its type's rule" in AuditEvent.objects.order_by("id").last().message


def test_an_admin_adds_a_weekly_freeze_window(signed_in):
    response = signed_in.post(
        "/settings/freeze-windows/",
        {
            "kind": "weekly",
            "start_day": "4",
            "start_time": "16:00",
            "end_day": "0",
            "end_time": "08:00",
            "time_zone": "Europe/Paris",
            "scope": "live",
            "description": "CHG-7 weekend freeze",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Added the freeze window every Fri 16:00 to Mon 08:00 (Europe/Paris)" in html
    window = FreezeWindow.objects.get()
    assert (window.start_time, window.end_time, window.scope) == (time(16), time(8), "live")
    event = AuditEvent.objects.get(action="control_settings")
    assert "every live environment: CHG-7 weekend freeze" in event.message

    signed_in.post("/settings/freeze-windows/", {"delete": str(window.pk)})
    assert not FreezeWindow.objects.exists()
    assert AuditEvent.objects.filter(action="control_settings").count() == 2


def test_a_one_off_window_is_read_in_its_own_time_zone(signed_in):
    signed_in.post(
        "/settings/freeze-windows/",
        {
            "kind": "once",
            "starts_at": "2026-12-24T18:00",
            "ends_at": "2026-12-27T08:00",
            "time_zone": "America/New_York",
            "scope": "all",
        },
    )
    window = FreezeWindow.objects.get()
    assert window.starts_at.isoformat() == "2026-12-24T23:00:00+00:00"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "once", "starts_at": "2026-12-24T18:00"}, "Give the date and time."),
        (
            {"kind": "once", "starts_at": "2026-12-24T18:00", "ends_at": "2026-12-24T17:00"},
            "The end must come after the start.",
        ),
        ({"kind": "weekly", "start_day": "4"}, "Give the day and time."),
        ({"kind": "once", "time_zone": "Mars/Olympus"}, "Not a time zone the console knows"),
        ({"kind": "once", "scope": "chosen"}, "Choose at least one environment."),
        (
            {
                "kind": "once",
                "starts_at": "9999-12-31T22:00",
                "ends_at": "9999-12-31T23:59",
                "time_zone": "America/Los_Angeles",
            },
            "Choose a time before 2100.",
        ),
    ],
)
def test_a_window_that_does_not_make_sense_is_refused_with_field_errors(signed_in, fields, error):
    data = {"time_zone": "Europe/London", "scope": "all", **fields}
    response = signed_in.post("/settings/freeze-windows/", data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not FreezeWindow.objects.exists()


def test_the_settings_page_says_what_global_deployments_follow(signed_in, settings):
    page = signed_in.get("/settings/change-control/").content.decode()
    assert "rules and freeze windows of both live and test apply to them" in page


def test_demo_setup_protects_live_environments(settings):
    settings.DEBUG = True
    call_command("demo_setup", stdout=io.StringIO())
    rule = ChangeRule.objects.get(environment_type="live")
    assert rule.needs_approval and rule.approvals_required == 1 and rule.confirm_name
    assert not ChangeRule.objects.filter(environment_type="test").exists()


def test_rule_changes_show_in_the_audit_log_only_to_admins(signed_in, client, viewer):
    signed_in.post("/settings/change-control/", {"type-live-needs_approval": "1"})
    page = signed_in.get("/audit/?action=control_settings").content.decode()
    assert "Adam Admin set change control for every live environment" in page
    client.force_login(viewer)
    assert "set change control" not in client.get("/audit/").content.decode()
    assert "set change control" not in client.get("/audit/export.csv").getvalue().decode()
