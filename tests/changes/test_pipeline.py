"""One change pipeline: where the routes meet change control (live environments with approval
and the typed name), against the sandbox over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent, ScheduledChange
from deployments_ui.notifications.models import Delivery, Subscription
from deployments_ui.schedules.tasks import apply_due_changes
from tests.changes.helpers import freeze_now, protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back
from tests.factories import make_user

pytestmark = pytest.mark.django_db
Status = ScheduledChange.Status


@pytest.fixture
def live_item(on_sandbox):
    protect("live", confirm_name=True)
    return find_deployment(on_sandbox, enabled=True, live=True)


def live_name(item: dict) -> str:
    return item["virtualEnvironment"]["name"]


def in_a_minute() -> str:
    return timezone.localtime(timezone.now() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")


def make_due(change: ScheduledChange) -> None:
    ScheduledChange.objects.filter(pk=change.pk).update(
        due_at=timezone.now() - timedelta(seconds=2)
    )


def schedule(client, item, **fields):
    data = {"action": "disable", "at": in_a_minute(), "reason": "supplier outage", **fields}
    return client.post(deployment_url(item, "schedule/"), data)


def approve(client, person, change: ChangeRequest):
    client.force_login(person)
    return client.post(f"/changes/{change.pk}/approve/", {"revision": change.revision}, follow=True)


def refusal_of(response) -> dict:
    return json.loads(response["X-Console-Refusal"])


# Scheduled "at…" on live: asked for at once, applied at its time once approved


def test_a_scheduled_live_disable_asks_for_approval_at_once_and_is_applied_at_its_time(
    client, operator, editor, live_item, on_sandbox
):
    client.force_login(operator)
    response = schedule(client, live_item, confirm_name=live_name(live_item))
    assert response.status_code == 302
    request = ChangeRequest.objects.get()
    change = ScheduledChange.objects.get()
    assert (change.change_request, change.name_confirmed) == (request, True)
    assert request.due_at == change.due_at and request.status == "open"

    assert "Approved. It is applied at its scheduled time." in (
        approve(client, editor, request).content.decode()
    )
    assert apply_due_changes().get() == 0  # not before its time
    assert read_back(on_sandbox, live_item)["enabled_at"]

    make_due(change)
    on_sandbox.clear_requests()
    assert apply_due_changes().get() == 1
    change.refresh_from_db()
    request.refresh_from_db()
    assert change.status == Status.APPLIED, change.result_message
    assert request.status == "applied"
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["disable"]
    assert not read_back(on_sandbox, live_item)["enabled_at"]
    write = AuditEvent.objects.get(action="disable", completes__isnull=True, outcome="pending")
    sentence = audit.describe(write)
    assert "at the request of Oscar Operator" in sentence
    assert f"change request {request.pk}, approved by Edie Editor" in sentence


def test_a_wrong_name_on_the_schedule_page_is_refused_beside_the_field(
    client, operator, live_item, on_sandbox
):
    client.force_login(operator)
    response = schedule(client, live_item, confirm_name="US Test")
    page = response.content.decode()
    assert response.status_code == 400
    assert f"Type the environment&#x27;s name, {live_name(live_item)}, to confirm." in page
    assert 'id="id_confirm_name_error"' in page
    assert not ScheduledChange.objects.exists() and not ChangeRequest.objects.exists()


def test_a_scheduled_change_still_unapproved_at_its_time_is_missed_and_told(
    client, operator, live_item, on_sandbox
):
    Subscription.objects.create(user=operator, kinds=["my-request"])
    client.force_login(operator)
    schedule(client, live_item, confirm_name=live_name(live_item))
    change = ScheduledChange.objects.get()
    make_due(change)
    on_sandbox.clear_requests()

    apply_due_changes()

    change.refresh_from_db()
    request = ChangeRequest.objects.get()
    assert change.status == Status.MISSED and request.status == "missed"
    assert "still waiting for approval" in change.result_message
    assert api_writes(on_sandbox) == []
    missed = AuditEvent.objects.get(action="miss")
    assert Delivery.objects.filter(event_id=missed.pk, subscription__user=operator).exists()


# "Off until…" on live: one request for the disable and the re-enable


def test_off_until_on_live_is_one_request_applied_when_approved_and_re_enabled_later(
    client, operator, editor, live_item, on_sandbox
):
    client.force_login(operator)
    response = schedule(
        client, live_item, at="", until=in_a_minute(), confirm_name=live_name(live_item)
    )
    assert response.status_code == 302
    request = ChangeRequest.objects.get()
    re_enable = ScheduledChange.objects.get()
    assert (request.action, request.until, re_enable.action) == (
        "disable",
        re_enable.due_at,
        "enable",
    )
    assert read_back(on_sandbox, live_item)["enabled_at"]

    approve(client, editor, request)  # applies itself: "off until" disables now
    request.refresh_from_db()
    assert request.status == "applied"
    assert not read_back(on_sandbox, live_item)["enabled_at"]

    make_due(re_enable)
    apply_due_changes()
    re_enable.refresh_from_db()
    assert re_enable.status == Status.APPLIED, re_enable.result_message
    assert read_back(on_sandbox, live_item)["enabled_at"]


# Refusals stay where the person is


def test_a_wrong_typed_name_in_the_dialog_leaves_the_page_and_names_the_field(
    client, operator, live_item, on_sandbox
):
    client.force_login(operator)
    response = client.post(
        deployment_url(live_item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": "outage", "confirm_name": "nope"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    refused = refusal_of(response)
    assert refused["field"] == "confirm_name"
    assert live_name(live_item) in refused["message"]
    assert "<html" not in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_without_javascript_the_confirmation_page_shows_it_beside_the_field(
    client, operator, live_item, on_sandbox
):
    client.force_login(operator)
    response = client.post(
        deployment_url(live_item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": "outage", "confirm_name": "nope"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_confirm_name_error"' in page and 'value="outage"' in page


def test_a_live_change_needs_a_reason(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    response = client.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert refusal_of(response)["field"] == "reason"
    assert api_writes(on_sandbox) == []
    assert AuditEvent.objects.get().outcome == "refused"


def test_a_frozen_environment_is_refused_in_the_dialog(client, operator, on_sandbox):
    freeze_now("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    response = client.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": "outage"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "freeze window" in refusal_of(response)["message"]


# One open request per change; the requester may withdraw it


def test_asking_again_refuses_and_links_to_the_open_request(client, operator, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    data = {"ask": "1", "confirmed": "1", "reason": "outage"}
    client.post(deployment_url(item, "disable/"), data, HTTP_HX_REQUEST="true")
    request = ChangeRequest.objects.get()

    again = client.post(deployment_url(item, "disable/"), data, HTTP_HX_REQUEST="true")

    assert again.status_code == 409
    refused = refusal_of(again)
    assert refused["link"] == f"/changes/{request.pk}/"
    assert f"change request {request.pk}" in refused["message"]
    assert ChangeRequest.objects.count() == 1
    listing = client.get("/deployments/?per_page=100").content.decode()
    assert f'href="/changes/{request.pk}/"' in listing and "waiting for approval" in listing


def test_the_requester_withdraws_their_request(client, operator, editor, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "outage"}
    )
    request = ChangeRequest.objects.get()
    client.force_login(editor)
    client.post(f"/changes/{request.pk}/withdraw/")
    request.refresh_from_db()
    assert request.status == "open"  # only the person who asked may withdraw it

    client.force_login(operator)
    page = client.post(f"/changes/{request.pk}/withdraw/", follow=True).content.decode()
    request.refresh_from_db()
    assert request.status == "withdrawn" and "Withdrawn" in page
    assert AuditEvent.objects.filter(action="withdraw").exists()
    assert approve(client, editor, request).status_code == 200
    request.refresh_from_db()
    assert request.status == "withdrawn"


def test_an_approval_of_an_older_revision_does_not_count(client, operator, editor, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "outage"}
    )
    request = ChangeRequest.objects.get()
    seen = request.revision
    client.post(f"/changes/{request.pk}/edit/", {"reason": "outage, longer"})
    client.force_login(editor)
    page = client.post(
        f"/changes/{request.pk}/approve/", {"revision": seen}, follow=True
    ).content.decode()
    request.refresh_from_db()
    assert request.status == "open" and "edited after you opened it" in page


def test_a_person_who_lost_the_role_cannot_have_their_approved_request_applied(
    client, operator, editor, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "outage"}
    )
    request = ChangeRequest.objects.get()
    approve(client, editor, request)
    operator.is_active = False
    operator.save()
    client.force_login(editor)
    on_sandbox.clear_requests()
    client.post(f"/changes/{request.pk}/apply/")
    request.refresh_from_db()
    assert (
        request.status == "failed" and "no longer has a console account" in request.outcome_message
    )
    assert api_writes(on_sandbox) == []


def test_a_test_environment_change_is_not_held(client, on_sandbox):
    protect("live", confirm_name=True)
    person = make_user("tess", "Operator", full_name="Tess Tester", api_key="sandbox-key-operator")
    item = find_deployment(on_sandbox, enabled=True, live=False)
    client.force_login(person)
    response = client.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert not read_back(on_sandbox, item)["enabled_at"]


def test_the_person_filter_finds_who_asked_and_who_approved(client, operator, editor, live_item):
    client.force_login(operator)
    client.post(
        deployment_url(live_item, "disable/"),
        {
            "ask": "1",
            "confirmed": "1",
            "reason": "outage",
            "confirm_name": live_name(live_item),
            "apply_when_approved": "1",
        },
    )
    request = ChangeRequest.objects.get()
    approve(client, editor, request)
    assert not read_back_enabled(live_item, client)
    client.force_login(operator)
    page = client.get("/audit/?person=Oscar&action=disable").content.decode()
    assert "Edie Editor disabled" in page and "at the request of Oscar Operator" in page
    page = client.get("/audit/?person=Edie&action=disable").content.decode()
    assert "approved by Edie Editor" in page


def read_back_enabled(item, client) -> bool:
    return "Enabled — runs on its schedule" in client.get(deployment_url(item)).content.decode()
