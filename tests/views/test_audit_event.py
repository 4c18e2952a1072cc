"""Every audit event has a page of its own, and a change it records can be undone through the
one change pipeline (change control applies), against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from deployments_ui import audit
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent
from tests.changes.helpers import protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def disable(client, person, item, reason="supplier outage"):
    client.force_login(person)
    client.post(deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": reason})
    return AuditEvent.objects.filter(action="disable", outcome="pending").latest("id")


def test_the_event_page_says_what_happened_before_and_after(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    event = disable(client, operator, item)
    page = client.get(f"/audit/{event.pk}/").content.decode()
    assert audit.describe(event).split(" — ")[0] in page
    assert "Before and after" in page and "enabled" in page and "disabled" in page
    assert event.hash in page and "Undo this change" in page
    listing = client.get("/audit/").content.decode()
    assert f'href="/audit/{event.pk}/"' in listing


def test_an_unknown_event_is_a_404(client, operator):
    client.force_login(operator)
    assert client.get("/audit/999999/").status_code == 404


def test_undo_puts_back_a_disable_in_a_test_environment(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    event = disable(client, operator, item)
    assert not read_back(on_sandbox, item)["enabled_at"]

    response = client.post(
        f"/audit/{event.pk}/undo/", {"reason": "wrong one", "confirmed": "1"}, follow=True
    )

    assert "Undone" in response.content.decode()
    assert read_back(on_sandbox, item)["enabled_at"]
    undo = AuditEvent.objects.filter(action="enable", outcome="pending").get()
    assert undo.after["undoes"] == event.pk
    assert f"undoing the change of event {event.pk}" in audit.describe(undo)
    page = client.get(f"/audit/{event.pk}/").content.decode()
    assert f"undone later (event {undo.pk})" in page


def test_undo_refuses_when_it_changed_since_and_sends_nothing(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    event = disable(client, operator, item)
    on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/enable",
        key="sandbox-key-dashboard",
    )
    on_sandbox.clear_requests()
    response = client.post(f"/audit/{event.pk}/undo/", {"reason": "x", "confirmed": "1"})
    assert response.status_code == 409
    assert "already as it was before this change" in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_undo_on_live_asks_for_approval_and_needs_the_typed_name(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    approver = make_user("eve", "Editor", full_name="Eve Approver", api_key="sandbox-key-editor")
    event = disable(client, approver, item)
    protect("live", confirm_name=True)
    client.force_login(operator)
    on_sandbox.clear_requests()

    wrong = client.post(
        f"/audit/{event.pk}/undo/", {"reason": "back on", "confirmed": "1", "confirm_name": "x"}
    )
    assert wrong.status_code == 400 and 'id="id_confirm_name_error"' in wrong.content.decode()

    name = item["virtualEnvironment"]["name"]
    asked = client.post(
        f"/audit/{event.pk}/undo/",
        {"reason": "back on", "confirmed": "1", "confirm_name": name},
    )
    request = ChangeRequest.objects.get()
    assert asked["Location"] == f"/changes/{request.pk}/"
    assert request.action == "enable" and api_writes(on_sandbox) == []


def test_only_changes_of_deployments_can_be_undone(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    client.force_login(operator)
    client.post(
        deployment_url(item, "schedule/"),
        {"action": "disable", "at": "2099-01-01T10:00", "reason": "later"},
    )
    scheduled = AuditEvent.objects.get(action="schedule")
    page = client.get(f"/audit/{scheduled.pk}/").content.decode()
    assert "Only an enable, a disable or a change of a deployment can be undone." in page


def test_the_row_and_the_detail_page_say_who_last_changed_it_and_why(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    event = disable(client, operator, item, reason="supplier outage")
    listing = client.get("/deployments/?per_page=100").content.decode()
    row = listing.split(f'id="deployment-row-{item["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/audit/{event.pk}/"' in row
    assert "Disabled by Oscar Operator" in row and ": supplier outage" in row
    detail = client.get(deployment_url(item)).content.decode()
    assert "Last change:" in detail and "Disabled by Oscar Operator" in detail


def test_the_last_change_is_the_newest_that_succeeded(db):
    from deployments_ui.audit.trail import Actor, record_attempt, record_outcome
    from deployments_ui.core.identity import DeploymentRef
    from deployments_ui.presenters import last_changes

    ref = DeploymentRef(flow_version_id="7", deployment_id="70")
    actor = Actor(username="ann", name="Ann Smith")
    outcomes = [("disable", "succeeded"), ("enable", "succeeded"), ("disable", "failed")]
    events = []
    for action, outcome in outcomes:
        attempt = record_attempt(actor=actor, action=action, target=ref, reason=action)
        record_outcome(attempt, outcome=outcome)
        events.append(attempt)
    found = last_changes(["70", "71"])
    assert list(found) == ["70"]
    assert found["70"]["text"] == "Enabled by Ann Smith"
    assert found["70"]["url"] == f"/audit/{events[1].pk}/"
