"""Subscriptions to "a live deployment started failing" and "... stopped running": told once,
naming the last change and who made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.flow_health import Health, HealthBoard, Kind, RunCounts
from deployments_ui.notifications import events
from deployments_ui.notifications import health as notices
from deployments_ui.notifications.models import Delivery, Subscription
from deployments_ui.notifications.sending import deliver_due
from tests.factories import actor_for, deployment

pytestmark = pytest.mark.django_db

LIVE = deployment(id=42)
TEST = deployment(id=43, virtualEnvironment={"id": 4, "name": "UK Test", "type": "test"})
OFF = deployment(id=44, enabled_at=None, enabled_by=None, enabledBy=None)


def board(**kinds: Kind) -> HealthBoard:
    now = timezone.now()
    rows = {
        ident.lstrip("d"): Health(
            ident.lstrip("d"), kind, now - timedelta(minutes=20), RunCounts(3, 3), None, None, True
        )
        for ident, kind in kinds.items()
    }
    return HealthBoard(rows=rows)


@pytest.fixture
def subscriber(operator):
    operator.email = "oscar@example.com"
    operator.save()
    return Subscription.objects.create(
        user=operator,
        name="Live health",
        kinds=[events.KIND_STARTED_FAILING, events.KIND_STOPPED_RUNNING],
    )


@pytest.fixture
def priority_changed(editor):
    ref = DeploymentRef.of(LIVE)
    attempt = audit.record_attempt(
        actor=actor_for(editor, name="Bob Jones"),
        action="update",
        target=ref,
        before={"priority": 2},
        after={"priority": 1},
        reason="faster orders",
    )
    audit.record_outcome(attempt, outcome="succeeded")
    return attempt


def everyone() -> list[Delivery]:
    return list(Delivery.objects.exclude(kind__in=[events.KIND_CHANGE, events.KIND_DRIFT]))


def test_a_live_deployment_that_starts_failing_is_told_once(subscriber, priority_changed):
    deployments = [LIVE, TEST, OFF]
    assert notices.tell_changes(board(d42=Kind.FINE, d43=Kind.FINE), deployments) == 0
    assert notices.tell_changes(board(d42=Kind.FAILING, d43=Kind.FAILING), deployments) == 1
    assert notices.tell_changes(board(d42=Kind.FAILING, d43=Kind.FAILING), deployments) == 0
    assert notices.tell_changes(board(d42=Kind.UNKNOWN), deployments) == 0
    assert notices.tell_changes(board(d42=Kind.FAILING), deployments) == 0
    [told] = everyone()
    assert told.kind == events.KIND_STARTED_FAILING and told.event_id == priority_changed.pk
    assert told.message.startswith(
        "Orders to ERP version 4 in Production EU started failing: Failing"
    )
    assert "after Bob Jones changed its priority" in told.message
    assert told.message.endswith(" Their reason: faster orders.")


def test_one_that_stops_running_is_told_and_the_message_is_mailed(subscriber, priority_changed):
    notices.tell_changes(board(d42=Kind.FINE), [LIVE])
    assert notices.tell_changes(board(d42=Kind.NOT_RUN), [LIVE]) == 1
    [told] = everyone()
    assert told.kind == events.KIND_STOPPED_RUNNING
    assert " stopped running: " in told.message
    deliver_due()
    [email] = mail.outbox
    assert "stopped running" in email.subject
    sentence = (
        "stopped running: Not run since Bob Jones changed its priority just now: faster orders."
    )
    assert email.body.count(sentence) == 1 and "Their reason" not in email.body
    assert "/audit/" not in email.body or str(priority_changed.pk) in email.body


def test_without_a_recorded_change_the_message_says_so(subscriber):
    notices.tell_changes(board(d42=Kind.FINE), [LIVE])
    notices.tell_changes(board(d42=Kind.FAILING), [LIVE])
    [told] = everyone()
    assert told.event_id is None
    assert told.message.endswith("No change to it is recorded in the console.")
    deliver_due()
    assert len(mail.outbox) == 1 and "started failing" in mail.outbox[0].subject


def test_only_those_who_asked_by_name_are_told(operator, priority_changed):
    operator.email = "oscar@example.com"
    operator.save()
    Subscription.objects.create(user=operator, name="Everything", kinds=[])
    Subscription.objects.create(
        user=operator,
        name="Test only",
        kinds=[events.KIND_STARTED_FAILING],
        environment_types=["test"],
    )
    notices.tell_changes(board(d42=Kind.FINE), [LIVE])
    assert notices.tell_changes(board(d42=Kind.FAILING), [LIVE]) == 0


def test_the_kinds_are_offered_on_the_subscription_form():
    assert events.KINDS[events.KIND_STARTED_FAILING] == "A live deployment started failing"
    assert events.KINDS[events.KIND_STOPPED_RUNNING] == "A live deployment stopped running"


def test_the_worker_reads_the_live_deployments_health_once_a_period(on_sandbox, settings):
    from deployments_ui.notifications.models import HealthSeen
    from deployments_ui.patchworks import PatchworksClient
    from deployments_ui.worker.tasks import watch_flow_health

    settings.CONSOLE_SERVICE_API_KEY = "sandbox-demo-key"
    settings.CONSOLE_FLOW_HEALTH_WATCH_MINUTES = 5
    listed = PatchworksClient("sandbox-demo-key").list_deployments(per_page=100).items
    live = notices.watched(listed)
    assert live and len(live) < len(listed)
    on_sandbox.clear_requests()
    assert watch_flow_health(listed) == 0  # the first sight is only noted
    assert [entry["path"] for entry in on_sandbox.requests()] == ["/api/v1/flow-runs"]
    noted = set(HealthSeen.objects.values_list("deployment_id", flat=True))
    assert noted and noted <= {d.id for d in live}
    on_sandbox.clear_requests()
    assert watch_flow_health(listed) == 0 and not on_sandbox.requests()  # not due yet
