"""Changes to notifications, saved views, change-control rules and freeze windows are audited
with before → after in plain words, read as natural sentences, have their filter choices, and
are shown only to those who see the whole trail (like account events)."""

from __future__ import annotations

import pytest
from django.test import Client

from deployments_ui import audit
from deployments_ui.audit import describe
from deployments_ui.audit.entries import entry_from_event
from deployments_ui.changes.models import FreezeWindow
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.models import AuditEvent
from deployments_ui.notifications.models import Subscription
from deployments_ui.saved_views.models import SavedView

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def changes(event: AuditEvent) -> dict[str, tuple[str, str]]:
    return {label: (old, new) for label, old, new in entry_from_event(event).changes}


def test_a_notification_added_changed_and_removed_is_audited(viewer):
    client = signed_in(viewer)
    client.post("/settings/notifications/", {"name": "Live changes", "frequency": "immediate"})
    subscription = Subscription.objects.get()
    client.post(
        f"/settings/notifications/{subscription.pk}/edit/",
        {"name": "Live changes", "frequency": "daily", "environment_types": ["live"]},
    )
    client.post(f"/settings/notifications/{subscription.pk}/delete/")

    added, changed, removed = events("subscription")
    assert describe(added) == "Vera Viewer added the notification “Live changes”"
    assert added.before is None and added.after["How often"] == "at once"
    assert describe(changed) == "Vera Viewer changed the notification “Live changes”"
    assert changes(changed)["How often"] == ("at once", "daily digest")
    assert changes(changed)["Environment types"] == ("any", "live")
    assert describe(removed) == "Vera Viewer removed the notification “Live changes”"
    assert removed.after is None and removed.before["Environment types"] == "live"
    assert "@" not in str(added.after)  # the address is the person's, not the trail's


def test_saving_the_same_notification_unchanged_records_nothing(viewer):
    client = signed_in(viewer)
    data = {"name": "Mine", "frequency": "hourly"}
    client.post("/settings/notifications/", data)
    subscription = Subscription.objects.get()
    client.post(f"/settings/notifications/{subscription.pk}/edit/", data)
    assert len(events("subscription")) == 1


def test_a_saved_view_saved_renamed_and_deleted_is_audited(viewer):
    client = signed_in(viewer)
    data = {"name": "Failed", "page": "audit", "query": "outcome=failed", "shared": "on"}
    client.post("/saved-views/", data)
    view = SavedView.objects.get()
    client.post(f"/saved-views/{view.pk}/rename/", {"name": "Failures"})
    client.post(f"/saved-views/{view.pk}/delete/")

    saved, renamed, deleted = events("saved_view")
    assert describe(saved) == "Vera Viewer saved the view “Failed”"
    assert saved.after == {
        "Name": "Failed",
        "Page": "Audit log",
        "Filters": "outcome: failed",
        "Shared": "with everyone",
        "Owner": "vera",
    }
    assert describe(renamed) == "Vera Viewer renamed the view “Failed” to “Failures”"
    assert changes(renamed)["Name"] == ("Failed", "Failures")
    assert describe(deleted) == "Vera Viewer deleted the view “Failures”"


def test_a_refused_saved_view_records_nothing(viewer):
    signed_in(viewer).post("/saved-views/", {"name": "", "page": "audit", "query": ""})
    assert events("saved_view") == []


def test_a_rule_change_keeps_each_setting_before_and_after(admin_user, on_sandbox):
    client = signed_in(admin_user)
    client.post(
        "/settings/change-control/",
        {"type-live-needs_approval": "1", "type-live-approvals": "2"},
    )

    [event] = events("control_settings")
    assert changes(event)["Approval"] == ("not needed", "2 approvals needed")
    assert changes(event)["Typed name"] == ("not asked for", "not asked for")
    assert describe(event) == (
        "Adam Admin set change control for every live environment: needs 2 approvals, "
        "no name to type (was: no approval, no name to type)"
    )


def test_a_freeze_window_added_and_removed_keeps_what_it_was(admin_user, on_sandbox):
    client = signed_in(admin_user)
    client.post(
        "/settings/freeze-windows/",
        {
            "kind": "weekly",
            "start_day": "4",
            "start_time": "16:00",
            "end_day": "0",
            "end_time": "08:00",
            "time_zone": "Europe/Paris",
            "scope": "live",
            "description": "weekend",
        },
    )
    window = FreezeWindow.objects.get()
    client.post("/settings/freeze-windows/", {"delete": str(window.pk)})

    added, removed = events("control_settings")
    assert describe(added) == (
        "Adam Admin added a freeze window every Fri 16:00 to Mon 08:00 (Europe/Paris) "
        "for every live environment: weekend"
    )
    assert added.after["Applies to"] == "every live environment" and added.before is None
    assert describe(removed).startswith("Adam Admin removed the freeze window every Fri 16:00")
    assert removed.before == added.after and removed.after is None


def test_old_rule_events_still_read_plainly(admin_user):
    event = audit.record_local(
        actor=audit.Actor(user=admin_user, username="adam", name="Adam Admin"),
        action="control_settings",
        target=DeploymentRef(),
        message="Change control for UK Live: needs 1 approval (was: no approval).",
    )
    assert describe(event) == (
        "Adam Admin changed change control — change control for UK Live: needs 1 approval "
        "(was: no approval)"
    )


@pytest.mark.parametrize("action", ["subscription", "saved_view", "control_settings", "webhook"])
def test_settings_events_are_for_those_who_see_everything(viewer, admin_user, action):
    signed_in(viewer).post("/settings/notifications/", {"name": "Mine", "frequency": "daily"})
    signed_in(viewer).post("/saved-views/", {"name": "Mine", "page": "audit", "query": ""})
    if action in ("control_settings", "webhook"):
        audit.record_local(
            actor=audit.Actor(user=admin_user, username="adam", name="Adam Admin"),
            action=action,
            target=DeploymentRef(),
            message="Added the webhook “Ops”",
        )
    [event] = events(action)

    viewer_client = signed_in(viewer)
    assert viewer_client.get(f"/audit/{event.pk}/").status_code == 404
    assert describe(event) not in viewer_client.get("/audit/").content.decode()
    admin_page = signed_in(admin_user).get(f"/audit/?action={action}").content.decode()
    assert describe(event) in admin_page.replace("&ldquo;", "“").replace("&rdquo;", "”")
    own_page = signed_in(admin_user).get(f"/audit/{event.pk}/")
    assert own_page.status_code == 200
    assert "Undo this change" not in own_page.content.decode()  # nothing of a deployment's


def test_the_filter_offers_each_kind_of_settings_and_account_event(admin_user):
    page = signed_in(admin_user).get("/audit/").content.decode()
    for value, words in [
        ("accounts", "Anything about people"),
        ("subscription", "Notification changes"),
        ("saved_view", "Saved view changes"),
        ("webhook", "Webhook changes"),
        ("control_settings", "Change control settings"),
    ]:
        assert f'value="{value}"' in page and words in page


def test_the_account_filter_finds_sign_in_events_and_nothing_else(client, viewer, admin_user):
    client.post("/accounts/login/", {"username": "vera", "password": "wrong"})
    signed_in(viewer).post("/saved-views/", {"name": "Mine", "page": "audit", "query": ""})

    page = signed_in(admin_user).get("/audit/?action=accounts").content.decode()

    assert "Failed sign-in as vera" in page
    assert "saved the view" not in page


def test_a_strangers_failed_sign_in_reads_plainly_on_its_page(client, viewer, admin_user):
    client.post("/accounts/login/", {"username": "vera", "password": "wrong"})
    [failed] = events("sign_in_failed")

    details = dict(entry_from_event(failed).details)

    assert details["Who"] == "someone not signed in"
    assert details["Outcome"] == "failed"
    assert "Patchworks" not in signed_in(admin_user).get(f"/audit/{failed.pk}/").content.decode()
