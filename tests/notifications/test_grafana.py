"""Grafana annotations: each change posted in Grafana's shape, with a bearer token if saved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from deployments_ui import audit
from deployments_ui.accounts import crypto
from deployments_ui.audit import Actor
from deployments_ui.notifications import sending
from deployments_ui.notifications.models import Delivery, Webhook
from tests.factories import make_user
from tests.notifications.conftest import LIVE, change, drift, make_webhook

pytestmark = pytest.mark.django_db

TOKEN = "glsa_test-token-for-annotations"


@pytest.fixture
def adam(db):
    return make_user("adam", "Admin", full_name="Adam Admin")


def grafana(url: str, *, token: str = TOKEN) -> Webhook:
    webhook = make_webhook(url, format=Webhook.Format.GRAFANA, name="Grafana")
    webhook.encrypted_token = crypto.encrypt(token) if token else ""
    webhook.save()
    return webhook


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_a_change_becomes_an_annotation_with_the_bearer_token(receiver, adam, settings):
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    grafana(receiver.url)
    event = change(adam)

    assert sending.deliver_due() == sending.Result(sent=1)

    got = receiver.received[0]
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    body = got.json()
    assert set(body) == {"time", "tags", "text"}
    assert body["time"] == ms(event.occurred_at)
    assert body["tags"] == ["deployments-console", "disable", "live", "UK Live", "Orders → Shopify"]
    assert body["text"].startswith("Adam Admin disabled Orders → Shopify")
    assert body["text"].endswith("\nhttps://console.example.com/audit/?deployment=101")


def test_without_a_token_no_authorization_is_sent(receiver):
    grafana(receiver.url, token="")
    drift()
    sending.deliver_due()
    got = receiver.received[0]
    assert "Authorization" not in got.headers
    assert "outside-console" in got.json()["tags"]


def test_an_off_until_schedule_is_marked_as_its_planned_span(receiver, adam):
    grafana(receiver.url)
    due = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    until = datetime(2026, 12, 27, 6, 0, tzinfo=UTC)
    audit.record_local(
        actor=Actor(user=adam, username="adam", name="Adam Admin"),
        action="schedule",
        target=LIVE,
        reason="holiday",
        after={
            "schedule_id": 1,
            "action": "disable",
            "due_at": due.isoformat(),
            "until": until.isoformat(),
        },
    )
    sending.deliver_due()
    body = receiver.received[0].json()
    assert (body["time"], body["timeEnd"]) == (ms(due), ms(until))
    assert "planned" in body["tags"]
    assert body["text"].startswith("Planned: Adam Admin scheduled a change to Orders → Shopify")


def test_account_events_are_not_annotated(adam):
    grafana("https://grafana.example.com/api/annotations")
    audit.record_account(
        actor=Actor(user=adam, username="adam", name="Adam Admin"),
        action="api_key_saved",
        account="adam",
    )
    assert not Delivery.objects.exists()


def test_the_token_is_saved_encrypted_never_shown_and_can_be_removed(admin_user):
    client = Client()
    client.force_login(admin_user)
    fields = {
        "name": "Grafana",
        "url": "https://grafana.example.com/api/annotations",
        "format": "grafana",
        "is_active": "on",
    }
    assert client.post("/settings/webhooks/new/", {**fields, "token": TOKEN}).status_code == 200
    webhook = Webhook.objects.get()
    assert crypto.decrypt(webhook.encrypted_token) == TOKEN
    detail = client.get(f"/settings/webhooks/{webhook.pk}/").content.decode()
    assert "Saved (never shown)" in detail and TOKEN not in detail
    assert TOKEN not in client.get(f"/settings/webhooks/{webhook.pk}/edit/").content.decode()

    client.post(f"/settings/webhooks/{webhook.pk}/edit/", fields)  # left empty: kept
    webhook.refresh_from_db()
    assert crypto.decrypt(webhook.encrypted_token) == TOKEN

    client.post(f"/settings/webhooks/{webhook.pk}/edit/", {**fields, "remove_token": "on"})
    webhook.refresh_from_db()
    assert webhook.encrypted_token == ""
