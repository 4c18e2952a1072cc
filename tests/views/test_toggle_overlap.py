"""Enable and disable overlap the console's own checks with Patchworks' round trip: the read that
guards the change starts as soon as the person is known, and is used only once the checks pass."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from django.test import Client

from deployments_ui.audit import trail as audit_trail
from deployments_ui.models import AuditEvent
from tests.deployments import (
    api_writes,
    deployment_url,
    find_deployment,
    seen_by_the_access_check,
)

pytestmark = pytest.mark.django_db


def outcomes() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("outcome", flat=True))


def reads_of(sandbox, item: dict) -> list[dict]:
    path = deployment_url(item).replace("/flow-versions/", "/api/v1/flow-versions/").rstrip("/")
    return [r for r in sandbox.requests() if r["method"] == "GET" and r["path"] == path]


def test_the_state_read_is_on_its_way_before_the_access_check(
    client, operator, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=False)
    seen = seen_by_the_access_check(monkeypatch, "change_read")
    client.force_login(operator)
    on_sandbox.clear_requests()

    response = client.post(
        deployment_url(item, "enable/"), {"reason": "back"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert len(seen) == 1 and isinstance(seen[0], Future)
    assert len(reads_of(on_sandbox, item)) == 1  # the read ahead is the one read
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["enable"]
    assert outcomes() == ["pending", "succeeded"]


def test_a_refused_toggle_reads_ahead_but_shows_and_changes_nothing(client, viewer, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    client.force_login(viewer)
    on_sandbox.clear_requests()

    response = client.post(deployment_url(item, "enable/"), headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert item["name"] not in response.content.decode()
    assert api_writes(on_sandbox) == []
    assert outcomes() == ["refused"]


def test_a_forged_post_reads_nothing(operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(operator)
    on_sandbox.clear_requests()

    response = forged.post(deployment_url(item, "enable/"), {"reason": "x"})

    assert response.status_code == 403
    assert on_sandbox.requests() == []
    assert outcomes() == []


def test_the_ask_page_shows_the_read_made_ahead(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    client.force_login(operator)
    on_sandbox.clear_requests()

    page = client.post(deployment_url(item, "enable/"), {"ask": "1"})

    assert page.status_code == 200
    assert "Enable" in page.content.decode()
    assert len(reads_of(on_sandbox, item)) == 1
    assert api_writes(on_sandbox) == []


def test_the_outcome_is_told_to_rules_read_while_the_write_travelled(
    client, operator, on_sandbox, monkeypatch
):
    from deployments_ui.audit import chain
    from deployments_ui.notifications import outbox
    from deployments_ui.notifications.models import Delivery, Subscription

    item = find_deployment(on_sandbox, enabled=False)
    subscription = Subscription.objects.create(user=operator, name="Everything")
    steps: list[str] = []
    read, append = outbox.rules_read, chain.append

    def reading(**kwargs):
        steps.append("rules read")
        return read(**kwargs)

    def appending(event, check=None):
        steps.append(f"append {event.outcome}")
        return append(event, check)

    monkeypatch.setattr(outbox, "rules_read", reading)
    monkeypatch.setattr(chain, "append", appending)
    monkeypatch.setattr(audit_trail, "append", appending)
    client.force_login(operator)

    response = client.post(
        deployment_url(item, "enable/"), {"reason": "back"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert steps == ["append pending", "rules read", "append succeeded"]
    outcome = AuditEvent.objects.get(outcome="succeeded")
    assert list(Delivery.objects.values_list("event_id", "subscription_id")) == [
        (outcome.pk, subscription.pk)
    ]
