"""The worker's sending: at least once, retried with backoff for a day, digests grouped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from deployments_ui.notifications import events, sending
from deployments_ui.notifications.models import Delivery, Subscription, Webhook
from tests.factories import make_user
from tests.notifications.conftest import SECRET, TEST_ENV, change, drift, make_webhook
from tests.notifications.test_delivery import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def adam(db):
    return make_user("adam", "Admin", full_name="Adam Admin")


def test_a_json_webhook_gets_the_signed_event_with_its_id(receiver, adam):
    make_webhook(receiver.url, owner=adam)
    event = change(adam, outcome="failed")

    assert sending.deliver_due() == sending.Result(sent=1)

    got = receiver.received[0]
    assert verify(SECRET, got.headers, got.body)
    assert got.headers["X-Console-Event-Id"] == str(event.pk)
    body = got.json()
    assert body["id"] == event.pk and body["type"] == "deployment.disable"
    assert body["outcome"] == "failed" and body["deployment"]["environment_name"] == "UK Live"
    assert body["summary"].startswith("Adam Admin tried to disable Orders → Shopify")
    item = Delivery.objects.get()
    assert (item.status, item.attempts, item.last_status_code) == ("delivered", 1, 200)
    assert sending.deliver_due() == sending.Result()  # nothing twice


def test_a_slack_webhook_gets_text_and_blocks(receiver, adam):
    make_webhook(receiver.url, format=Webhook.Format.SLACK)
    drift()
    sending.deliver_due()
    body = receiver.received[0].json()
    assert body["text"].startswith("Dana Dashboard disabled Orders → Shopify")
    assert body["blocks"][0]["text"]["text"] == body["text"]
    assert "<" not in body["text"] and ">" not in body["text"]
    assert body["blocks"][1]["type"] == "context"


def test_slack_text_cannot_mention_or_link(receiver, adam):
    make_webhook(receiver.url, format=Webhook.Format.SLACK)
    event = change(adam)
    data = events.event_data(event, events.KIND_CHANGE)
    data["summary"] = "Disabled <!channel> & <@U123> <https://evil.example|click>"
    message = events.slack_message(data)
    assert message["text"] == (
        "Disabled &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;"
    )
    assert message["blocks"][0]["text"]["text"] == message["text"]


def test_failures_are_retried_with_exponential_backoff(receiver, adam):
    make_webhook(receiver.url, owner=adam)
    receiver.answers.extend([(503, {}), (503, {}), (503, {})])
    event = change(adam)
    now = timezone.now()

    waits = []
    for _ in range(3):
        assert sending.deliver_due(now=now).retrying == 1
        item = Delivery.objects.get()
        waits.append((item.next_attempt_at - now).total_seconds())
        assert sending.deliver_due(now=now).retrying == 0  # not due again yet
        now = item.next_attempt_at
    assert waits == [30, 60, 120]
    assert item.last_error == "The receiver answered 503: <b>not ok</b>"

    assert sending.deliver_due(now=now) == sending.Result(sent=1)
    assert [r.headers["X-Console-Event-Id"] for r in receiver.received] == [str(event.pk)] * 4
    assert [r.headers["X-Console-Attempt"] for r in receiver.received] == ["1", "2", "3", "4"]


def test_backoff_is_capped_at_an_hour():
    assert sending.backoff(1) == timedelta(seconds=30)
    assert sending.backoff(7) == timedelta(seconds=1920)
    assert sending.backoff(8) == timedelta(hours=1)
    assert sending.backoff(40) == timedelta(hours=1)


def test_after_a_day_it_is_marked_failed_and_the_owner_is_told(receiver, adam):
    make_webhook(receiver.url + "services/T0/B0/secret-path", owner=adam, name="Ops channel")
    change(adam)
    Delivery.objects.update(created_at=timezone.now() - timedelta(hours=24))
    receiver.answers.append((500, {}))

    assert sending.deliver_due() == sending.Result(failed=1)

    assert Delivery.objects.get().status == "failed"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["adam@example.com"]
    assert "Ops channel" in mail.outbox[0].subject
    assert "answered 500" in mail.outbox[0].body
    assert "(to 127.0.0.1)" in mail.outbox[0].body and "secret-path" not in mail.outbox[0].body


def test_a_refused_address_fails_at_once_and_tells_the_owner(settings, adam):
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = False
    make_webhook("https://10.0.0.5/hook", owner=adam)
    change(adam)
    assert sending.deliver_due() == sending.Result(failed=1)
    item = Delivery.objects.get()
    assert item.status == "failed" and "private network" in item.last_error
    assert len(mail.outbox) == 1


def test_a_down_worker_delays_but_never_drops(receiver, adam):
    make_webhook(receiver.url)
    for _ in range(3):
        change(adam)
    assert receiver.received == []  # nothing ran: the deliveries wait in the database
    later = timezone.now() + timedelta(hours=2)
    assert sending.deliver_due(now=later) == sending.Result(sent=3)
    assert len(receiver.received) == 3


def test_a_claimed_delivery_is_not_sent_by_another_worker_at_the_same_time(receiver, adam):
    make_webhook(receiver.url)
    change(adam)
    item = Delivery.objects.get()
    now = timezone.now()
    assert sending._claim(item, now)
    assert sending.deliver_due(now=now) == sending.Result()
    # A worker that died mid-send: after the claim expires, another sends it (at least once).
    assert sending.deliver_due(now=now + sending.CLAIM) == sending.Result(sent=1)


def test_an_immediate_subscription_is_one_email(adam):
    Subscription.objects.create(user=adam, name="Live", environment_types=["live"])
    change(adam)
    change(adam, target=TEST_ENV)
    sending.deliver_due()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[Deployments] Adam Admin disabled Orders → Shopify")
    assert "your notification 'Live' (at once)" in mail.outbox[0].body


def test_digests_group_a_periods_events_into_one_email(adam, settings):
    # Daily digests go out at 07:00 in the console's zone: pick a zone where it is about noon
    # now, so that the next hour never reaches 07:00 whatever time the test runs.
    offset = (12 - timezone.now().hour + 12) % 24 - 12
    settings.TIME_ZONE = f"Etc/GMT{-offset:+d}" if offset else "UTC"
    ops = make_user("oscar", "Operator", full_name="Oscar Operator")
    Subscription.objects.create(user=adam, name="Hourly", frequency="hourly")
    Subscription.objects.create(user=ops, name="Daily", frequency="daily")
    first = change(adam)
    drift(target=TEST_ENV)
    change(adam, action="enable", outcome="unknown")

    assert sending.deliver_due() == sending.Result()  # not due before the hour ends
    assert sending.deliver_due(now=timezone.now() + timedelta(hours=1)) == sending.Result(sent=3)
    assert len(mail.outbox) == 1
    hourly = mail.outbox[0]
    assert hourly.to == ["adam@example.com"]
    assert hourly.subject == "[Deployments] 3 events in the last hour"
    lines = [line for line in hourly.body.splitlines() if line[:2].isdigit()]
    assert len(lines) == 3 and "Orders → Shopify" in lines[0] and "Stock levels" in lines[1]

    assert sending.deliver_due(now=timezone.now() + timedelta(days=1, hours=1)).sent == 3
    assert [m.subject for m in mail.outbox][1] == "[Deployments] 3 events in the last day"
    assert Delivery.objects.filter(event_id=first.pk, status="delivered").count() == 2


def test_a_person_without_email_is_skipped(adam):
    adam.email = ""
    adam.save()
    Subscription.objects.create(user=adam, name="All")
    change(adam)
    sending.deliver_due()
    assert mail.outbox == []
    assert Delivery.objects.get().status == "skipped"


def test_send_a_test_posts_now_and_logs_it(receiver, adam):
    webhook = make_webhook(receiver.url, owner=adam)
    item = sending.send_test(webhook)
    assert item.status == "delivered" and item.is_test
    got = receiver.received[0]
    assert got.json()["type"] == "test" and got.headers["X-Console-Event-Id"] == f"test-{item.pk}"
    assert verify(SECRET, got.headers, got.body)


def test_old_finished_deliveries_are_deleted_waiting_ones_kept(settings, adam):
    settings.CONSOLE_DELIVERY_KEEP_DAYS = 30
    webhook = make_webhook("https://hooks.example.com/a")
    old = timezone.now() - timedelta(days=31)
    Delivery.objects.create(webhook=webhook, status="delivered", created_at=old)
    Delivery.objects.create(webhook=webhook, status="failed", created_at=old)
    waiting = Delivery.objects.create(webhook=webhook, created_at=old)
    recent = Delivery.objects.create(webhook=webhook, status="delivered")
    assert sending.delete_finished() == 2
    assert set(Delivery.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}
