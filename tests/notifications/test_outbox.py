"""Deliveries are written in the audit event's own transaction: both or neither."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from deployments_ui import audit
from deployments_ui.audit import AuditUnavailable, chain
from deployments_ui.models import AuditEvent
from deployments_ui.notifications import events, outbox
from deployments_ui.notifications.models import Delivery, Subscription, Webhook
from tests.factories import make_user
from tests.notifications.conftest import LIVE, TEST_ENV, change, drift, make_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(db):
    return make_user("ann", "Operator", full_name="Ann Smith")


def test_a_change_writes_one_delivery_per_matching_webhook_and_subscriber(ann):
    everything = make_webhook("https://hooks.example.com/a", owner=ann)
    make_webhook("https://hooks.example.com/b", name="Test only", environment_types=["test"])
    subscription = Subscription.objects.create(user=ann, name="Live", environment_types=["live"])

    outcome = change(ann)

    deliveries = list(Delivery.objects.order_by("id"))
    assert [(d.event_id, d.webhook_id, d.subscription_id) for d in deliveries] == [
        (outcome.pk, everything.pk, None),
        (outcome.pk, None, subscription.pk),
    ]
    assert {d.kind for d in deliveries} == {events.KIND_CHANGE}


def test_the_attempt_alone_is_not_told(ann):
    make_webhook("https://hooks.example.com/a")
    from deployments_ui import audit

    audit.record_attempt(
        actor=audit.Actor(user=ann, username="ann", name="Ann Smith"), action="disable", target=LIVE
    )
    assert Delivery.objects.count() == 0


def test_drift_is_its_own_kind(ann):
    make_webhook("https://hooks.example.com/a", kinds=[events.KIND_DRIFT])
    change(ann)
    assert Delivery.objects.count() == 0
    event = drift(target=TEST_ENV)
    assert Delivery.objects.get().event_id == event.pk
    assert Delivery.objects.get().kind == events.KIND_DRIFT


def test_a_failed_audit_write_creates_no_delivery(ann):
    make_webhook("https://hooks.example.com/a")
    with (
        mock.patch.object(AuditEvent, "save", side_effect=DatabaseError("disk full")),
        pytest.raises(AuditUnavailable),
    ):
        change(ann)
    assert Delivery.objects.count() == 0


def test_a_write_failing_after_the_delivery_takes_the_delivery_with_it(ann):
    make_webhook("https://hooks.example.com/a")

    def fail_after_fan_out(event):
        raise DatabaseError("the head could not be moved")

    with (
        mock.patch.object(chain, "_on_append", [outbox.fan_out, fail_after_fan_out]),
        pytest.raises(AuditUnavailable),
    ):
        change(ann)
    assert AuditEvent.objects.count() == 0
    assert Delivery.objects.count() == 0


def test_a_rolled_back_transaction_takes_event_and_delivery_together(ann):
    make_webhook("https://hooks.example.com/a")
    with pytest.raises(RuntimeError), transaction.atomic():
        change(ann)
        assert Delivery.objects.count() == 1
        raise RuntimeError("the caller gave up")
    assert (AuditEvent.objects.count(), Delivery.objects.count()) == (0, 0)


def test_subscribers_need_to_see_deployments_and_be_active(ann):
    nobody = make_user("nora", None, full_name="Nora Norole")
    gone = make_user("gus", "Viewer", full_name="Gus Gone")
    gone.is_active = False
    gone.save()
    for user in (ann, nobody, gone):
        Subscription.objects.create(user=user, name="All")
    change(ann)
    assert list(Delivery.objects.values_list("subscription__user__username", flat=True)) == ["ann"]


def test_requests_for_me_reach_only_the_audience(ann):
    bob = make_user("bob", "Editor", full_name="Bob Approver")
    for user in (ann, bob):
        Subscription.objects.create(user=user, name="Mine", kinds=[events.KIND_REQUEST_FOR_ME])
    Subscription.objects.create(user=ann, name="All changes")
    event = drift()
    assert Delivery.objects.count() == 1  # ann's "All changes" only

    with transaction.atomic():
        outbox.notify(event, kind=events.KIND_REQUEST_FOR_ME, audience=[bob])
    assert list(
        Delivery.objects.filter(kind=events.KIND_REQUEST_FOR_ME).values_list(
            "subscription__user__username", flat=True
        )
    ) == ["bob"]


def test_digest_subscriptions_are_due_at_the_end_of_their_period(ann, settings):
    from datetime import UTC, datetime

    settings.TIME_ZONE = "Europe/London"
    now = datetime(2026, 6, 1, 10, 20, tzinfo=UTC)  # 11:20 in London (summer time)
    assert outbox.send_at("immediate", now) == now
    assert outbox.send_at("hourly", now) == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    assert outbox.send_at("daily", now) == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 07:00 BST
    early = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
    assert outbox.send_at("daily", early) == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def test_account_events_reach_only_those_who_see_them_and_never_from_strangers(db, admin_user):
    viewer = make_user("vic", "Viewer", full_name="Vic Viewer")
    Subscription.objects.create(user=viewer, name="Everything")
    Subscription.objects.create(user=admin_user, name="Everything")
    Webhook.objects.create(name="SIEM", url="https://siem.example.com/", encrypted_secret="x")

    role_change = audit.record_account(
        actor=audit.Actor(user=admin_user, name="Adam Admin"),
        action="roles_changed",
        account="vic",
        before={"roles": []},
        after={"roles": ["Viewer"]},
    )
    told = Delivery.objects.filter(event_id=role_change.pk)
    assert {d.subscription.user for d in told if d.subscription} == {admin_user}
    assert told.filter(webhook__isnull=False).count() == 1

    stranger = audit.record_account(
        actor=audit.Actor(name=""), action="sign_in_failed", account="adam", outcome="failed"
    )
    assert not Delivery.objects.filter(event_id=stranger.pk).exists()


def test_rules_read_earlier_are_the_ones_an_event_is_told_to(ann):
    subscription = Subscription.objects.create(user=ann, name="All")
    ready = outbox.rules_read(with_permissions=True)
    Subscription.objects.create(user=ann, name="Made after the rules were read")

    with outbox.rules_ready(ready), CaptureQueriesContext(connection) as queries:
        outcome = change(ann)

    assert list(Delivery.objects.values_list("event_id", "subscription_id")) == [
        (outcome.pk, subscription.pk)
    ]
    assert not [q for q in queries if "subscription" in q["sql"] and "SELECT" in q["sql"]]


def test_rules_read_earlier_still_keep_to_the_audience(ann):
    bob = make_user("bob", "Editor", full_name="Bob Approver")
    for user in (ann, bob):
        Subscription.objects.create(user=user, name="Mine", kinds=[events.KIND_REQUEST_FOR_ME])
    event = drift()

    with transaction.atomic(), outbox.rules_ready(outbox.rules_read()):
        outbox.notify(event, kind=events.KIND_REQUEST_FOR_ME, audience=[bob])

    assert list(Delivery.objects.values_list("subscription__user__username", flat=True)) == ["bob"]
