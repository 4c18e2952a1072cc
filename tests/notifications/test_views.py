"""The notification pages: a person's subscriptions, and the admins' webhooks."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from deployments_ui import audit
from deployments_ui.accounts import crypto
from deployments_ui.models import AuditEvent
from deployments_ui.notifications.models import Delivery, Subscription, Webhook
from tests.notifications.conftest import make_webhook

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Subscriptions


def test_a_person_subscribes_with_filters(viewer):
    client = client_for(viewer)
    response = client.post(
        "/settings/notifications/",
        {
            "name": "Live changes",
            "frequency": "hourly",
            "environment_types": ["live"],
            "actions": ["disable", "enable"],
            "kinds": ["drift"],
            "flow_name_contains": "Shop",
            "only_problems": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    subscription = Subscription.objects.get()
    assert subscription.user == viewer and subscription.frequency == "hourly"
    assert subscription.environment_types == ["live"] and subscription.kinds == ["drift"]
    assert subscription.actions == ["disable", "enable"] and subscription.only_problems
    page = response.content.decode()
    assert "Saved “Live changes”. Emails go to vera@example.com." in page
    assert "Changes made outside the console · live environments" in page


def test_a_name_is_required(viewer):
    response = client_for(viewer).post("/settings/notifications/", {"frequency": "immediate"})
    assert response.status_code == 400
    assert Subscription.objects.count() == 0


def test_people_see_and_change_only_their_own(viewer, operator):
    theirs = Subscription.objects.create(user=operator, name="Oscar's")
    client = client_for(viewer)
    assert "Oscar's" not in client.get("/settings/notifications/").content.decode()
    assert client.get(f"/settings/notifications/{theirs.pk}/edit/").status_code == 404
    assert client.post(f"/settings/notifications/{theirs.pk}/delete/").status_code == 404
    assert Subscription.objects.filter(pk=theirs.pk).exists()


def test_edit_and_remove(viewer):
    mine = Subscription.objects.create(user=viewer, name="Mine")
    client = client_for(viewer)
    response = client.post(
        f"/settings/notifications/{mine.pk}/edit/",
        {"name": "Mine", "frequency": "daily", "environment_types": ["test"]},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.frequency, mine.environment_types) == ("daily", ["test"])
    assert client.get(f"/settings/notifications/{mine.pk}/delete/").status_code == 405
    response = client.post(f"/settings/notifications/{mine.pk}/delete/", follow=True)
    assert "Removed “Mine”" in response.content.decode()
    assert Subscription.objects.count() == 0


def test_people_without_a_role_cannot_subscribe(no_role_user):
    assert client_for(no_role_user).get("/settings/notifications/").status_code == 403


# Webhooks


def test_an_admin_adds_a_webhook_and_sees_the_secret_once(admin_user, caplog):
    client = client_for(admin_user)
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            "/settings/webhooks/new/",
            {
                "name": "Ops channel",
                "url": "https://hooks.slack.example.com/services/T000/B000/XXX",
                "format": "slack",
                "is_active": "on",
                "environment_types": ["live"],
            },
        )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].split(", ")
    webhook = Webhook.objects.get()
    secret = crypto.decrypt(webhook.encrypted_secret)
    assert secret.startswith("whsec_") and secret not in webhook.encrypted_secret
    assert secret in response.content.decode()
    assert webhook.owner == admin_user and webhook.format == "slack"
    assert secret not in caplog.text

    for page in ("/settings/webhooks/", f"/settings/webhooks/{webhook.pk}/"):
        assert secret not in client.get(page).content.decode()
    edit = client.get(f"/settings/webhooks/{webhook.pk}/edit/").content.decode()
    assert secret not in edit and webhook.encrypted_secret not in edit


def test_webhook_changes_are_audited_and_the_address_is_never_shown_whole(admin_user, settings):
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = True
    client = client_for(admin_user)
    address = "https://hooks.slack.example.com/services/T000/B000/SECRETPART"
    client.post(
        "/settings/webhooks/new/",
        {"name": "Ops channel", "url": address, "format": "slack", "is_active": "on"},
    )
    webhook = Webhook.objects.get()
    for page in (
        "/settings/webhooks/",
        f"/settings/webhooks/{webhook.pk}/",
        f"/settings/webhooks/{webhook.pk}/edit/",
    ):
        html = client.get(page).content.decode()
        assert "SECRETPART" not in html and "hooks.slack.example.com/…PART" in html
    # Saving the edit form with the address left empty keeps the saved one.
    client.post(
        f"/settings/webhooks/{webhook.pk}/edit/",
        {"name": "Ops alerts", "url": "", "format": "slack", "is_active": "on"},
    )
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url) == ("Ops alerts", address)
    client.post(f"/settings/webhooks/{webhook.pk}/delete/")
    events = AuditEvent.objects.filter(action="webhook").order_by("id")
    assert [event.message for event in events] == [
        "Added the webhook “Ops channel”",
        "Changed the webhook “Ops alerts”",
        "Deleted the webhook “Ops alerts”",
    ]
    assert events[1].before["name"] == "Ops channel" and events[1].after["name"] == "Ops alerts"
    assert all("SECRETPART" not in str(event.after) + str(event.before) for event in events)
    assert audit.describe(events[0]) == "Adam Admin added the webhook “Ops channel”"
    assert audit.describe(events[2]) == "Adam Admin deleted the webhook “Ops alerts”"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://hooks.example.com/", "Only https:// addresses are allowed."),
        ("https://127.0.0.1/", "Webhooks may not reach 127.0.0.1 is this machine (loopback)."),
        ("https://[::1]:8443/", "Webhooks may not reach ::1 is this machine (loopback)."),
        ("https://169.254.169.254/", "link-local"),
    ],
)
def test_unsafe_addresses_are_refused_on_the_form(admin_user, settings, url, error):
    settings.CONSOLE_WEBHOOK_ALLOW_HTTP = settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = False
    response = client_for(admin_user).post(
        "/settings/webhooks/new/", {"name": "x", "url": url, "format": "json"}
    )
    assert response.status_code == 400
    assert error in response.content.decode()
    assert Webhook.objects.count() == 0


def test_send_a_test_shows_the_result_and_logs_it(admin_user, receiver):
    webhook = make_webhook(receiver.url, owner=admin_user)
    client = client_for(admin_user)
    assert client.get(f"/settings/webhooks/{webhook.pk}/test/").status_code == 405
    response = client.post(f"/settings/webhooks/{webhook.pk}/test/", follow=True)
    page = response.content.decode()
    assert "The test was delivered (the receiver answered 200)." in page
    assert len(receiver.received) == 1
    assert Delivery.objects.get().is_test


def test_the_delivery_log_escapes_what_receivers_answer(admin_user, receiver):
    webhook = make_webhook(receiver.url, owner=admin_user)
    receiver.answers.append((500, {}))
    response = client_for(admin_user).post(f"/settings/webhooks/{webhook.pk}/test/", follow=True)
    page = response.content.decode()
    assert (
        "The test was not delivered: The receiver answered 500: &lt;b&gt;not ok&lt;/b&gt;" in page
    )
    assert "<b>not ok</b>" not in page
    log = client_for(admin_user).get(f"/settings/webhooks/{webhook.pk}/").content.decode()
    assert 'id="delivery-log"' in log and "&lt;b&gt;not ok&lt;/b&gt;" in log


def test_edit_and_delete_a_webhook(admin_user):
    webhook = make_webhook("https://hooks.example.com/a", owner=admin_user)
    client = client_for(admin_user)
    response = client.post(
        f"/settings/webhooks/{webhook.pk}/edit/",
        {"name": "Renamed", "url": "https://hooks.example.com/b", "format": "json"},
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url, webhook.is_active) == (
        "Renamed",
        "https://hooks.example.com/b",
        False,
    )
    detail = client.get(f"/settings/webhooks/{webhook.pk}/").content.decode()
    assert "Yes, delete “Renamed”" in detail  # behind a confirmation
    assert client.get(f"/settings/webhooks/{webhook.pk}/delete/").status_code == 405
    response = client.post(f"/settings/webhooks/{webhook.pk}/delete/", follow=True)
    assert "Deleted the webhook “Renamed”" in response.content.decode()
    assert Webhook.objects.count() == 0


def test_only_admins_manage_webhooks(editor):
    webhook = make_webhook("https://hooks.example.com/a")
    client = client_for(editor)
    assert client.get("/settings/webhooks/").status_code == 403
    assert client.post(f"/settings/webhooks/{webhook.pk}/delete/").status_code == 403
    assert Webhook.objects.count() == 1


def test_the_list_counts_waiting_and_failed(admin_user):
    webhook = make_webhook("https://hooks.example.com/a")
    Delivery.objects.create(webhook=webhook, status="failed")
    Delivery.objects.create(webhook=webhook)
    page = client_for(admin_user).get("/settings/webhooks/").content.decode()
    assert "1 failed" in page and "1 waiting" in page


def test_chosen_environments_come_from_what_the_console_has_seen(viewer):
    from deployments_ui import audit
    from tests.notifications.conftest import LIVE

    audit.record_external(action="disable", target=LIVE, before=None, after=None, actor_name="")
    page = client_for(viewer).get("/settings/notifications/").content.decode()
    assert 'value="2"' in page and "UK Live" in page
