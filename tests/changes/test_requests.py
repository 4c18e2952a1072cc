"""Four eyes: a change in a protected environment becomes a request, approved by someone else,
applied only while the deployment is still as it was asked about."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.models import AuditEvent
from deployments_ui.notifications import events
from deployments_ui.notifications.models import Delivery, Subscription
from tests.changes.helpers import protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_operator(db):
    return make_user("olga", "Operator", full_name="Olga Other", api_key="sandbox-key-operator")


def ask_to_disable(client, user, item, reason="supplier outage", **extra):
    client.force_login(user)
    return client.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "reason": reason, "next": "/deployments/", **extra},
    )


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_a_protected_change_is_recorded_as_a_request_and_nothing_is_sent(
    client, operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    on_sandbox.clear_requests()

    response = ask_to_disable(client, operator, item)

    assert response.status_code == 302
    assert api_writes(on_sandbox) == []
    assert read_back(on_sandbox, item)["enabled_at"]
    change = ChangeRequest.objects.get()
    assert (change.action, change.deployment_id, change.status) == (
        "disable",
        str(item["id"]),
        "open",
    )
    assert change.summary.startswith(f"Disable {item['name']}")
    assert change.expected["enabled"] is True and change.after["enabled"] is False
    assert change.reason == "supplier outage"
    assert change.expires_at - change.requested_at == timedelta(days=7)
    assert actions() == ["request"]
    page = client.get("/deployments/", follow=True).content.decode()
    assert f"change request {change.pk}" in page and "nothing was sent" in page


def test_a_test_environment_without_a_rule_is_written_at_once(client, operator, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=False)
    ask_to_disable(client, operator, item)
    assert [w["method"] for w in api_writes(on_sandbox)] == ["POST"]
    assert not ChangeRequest.objects.exists()


def test_another_person_approves_then_the_requester_applies(
    client, operator, second_operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()

    client.force_login(second_operator)
    page = client.get(f"/changes/{change.pk}/").content.decode()
    assert "Supplier outage" in page or "supplier outage" in page
    assert "In Patchworks now" in page and "Approve" in page
    response = client.post(f"/changes/{change.pk}/approve/", follow=True)
    assert "Approved. The person who asked, or an approver, can now apply it." in (
        response.content.decode()
    )
    assert api_writes(on_sandbox) == []

    client.force_login(operator)
    on_sandbox.clear_requests()
    response = client.post(f"/changes/{change.pk}/apply/", follow=True)

    assert "Applied" in response.content.decode()
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["disable"]
    assert not read_back(on_sandbox, item)["enabled_at"]
    change.refresh_from_db()
    assert change.status == "applied" and change.applied_by == operator
    assert actions() == ["request", "approve", "disable", "disable"]
    write = AuditEvent.objects.filter(action="disable", outcome="succeeded").get()
    assert write.reason == "supplier outage" and write.after["change_request"] == change.pk
    sentence = audit.describe(write.completes)
    assert sentence.startswith(f"Oscar Operator disabled {item['name']}")
    assert (
        f"at the request of Oscar Operator (change request {change.pk}, approved by Olga Other)"
        in sentence
    )
    history = client.get(f"/changes/{change.pk}/").content.decode()
    assert "Olga Other approved change request" in history


def test_the_requester_can_never_approve(client, operator, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()

    response = client.post(f"/changes/{change.pk}/approve/", follow=True)

    assert "another person must approve it" in response.content.decode()
    change.refresh_from_db()
    assert change.status == "open" and not change.decisions.exists()
    refusal = AuditEvent.objects.get(action="approve")
    assert refusal.outcome == "refused" and "cannot approve" in refusal.message
    assert client.post(f"/changes/{change.pk}/apply/").status_code == 302
    assert api_writes(on_sandbox) == []


def test_a_role_that_may_not_make_the_change_may_not_approve_it(
    client, editor, operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(editor)
    client.post(deployment_url(item, "delete/"), {"reason": "retired"})
    change = ChangeRequest.objects.get()
    assert change.action == "delete" and api_writes(on_sandbox) == []

    client.force_login(operator)
    response = client.post(f"/changes/{change.pk}/approve/", follow=True)

    assert "Your role does not allow this kind of change" in response.content.decode()
    assert ChangeRequest.objects.get().status == "open"


def test_editing_a_request_resets_its_approvals(
    client, operator, second_operator, editor, on_sandbox
):
    protect("live", approvals=2)
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(second_operator)
    client.post(f"/changes/{change.pk}/approve/")
    assert change.approvals().count() == 1

    client.force_login(operator)
    response = client.post(
        f"/changes/{change.pk}/edit/", {"reason": "outage, ticket 7"}, follow=True
    )

    assert "Approvals given before were reset" in response.content.decode()
    change.refresh_from_db()
    assert (change.revision, change.status, change.reason) == (2, "open", "outage, ticket 7")
    assert change.approvals().count() == 0
    page = client.get(f"/changes/{change.pk}/").content.decode()
    assert "0 of 2" in page and "no longer counts" in page
    # The earlier approver may decide again on the new revision.
    client.force_login(second_operator)
    client.post(f"/changes/{change.pk}/approve/")
    client.force_login(editor)
    client.post(f"/changes/{change.pk}/approve/")
    change.refresh_from_db()
    assert change.status == "approved"
    assert "request_edit" in actions()


def test_a_request_is_stale_when_the_deployment_changed_since(
    client, operator, second_operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(second_operator)
    client.post(f"/changes/{change.pk}/approve/")
    # Someone disables it in the Patchworks dashboard meanwhile.
    on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable",
        key="sandbox-key-dashboard",
    )
    on_sandbox.clear_requests()

    response = client.post(f"/changes/{change.pk}/apply/", follow=True)

    html = response.content.decode()
    assert (
        "Not applied: someone changed it since the request was made (changed: whether it is "
        "enabled and when it was enabled)"
    ) in html
    assert "Nothing was sent." in html
    assert api_writes(on_sandbox) == []
    change.refresh_from_db()
    assert change.status == "stale"
    refusal = AuditEvent.objects.filter(action="disable").get()
    assert refusal.outcome == "refused" and refusal.message.startswith("Not applied:")


def test_stale_names_who_changed_it_through_the_console(
    client, operator, second_operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(second_operator)
    client.post(f"/changes/{change.pk}/approve/")
    # Drift detection saw someone disable it in Patchworks.
    audit.record_external(
        action="disable",
        target=DeploymentRef(deployment_id=str(item["id"])),
        before=None,
        after=None,
        actor_name="Dana Dashboard",
    )
    on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable",
        key="sandbox-key-dashboard",
    )
    client.force_login(operator)
    response = client.post(f"/changes/{change.pk}/apply/", follow=True)
    assert "Not applied: Dana Dashboard changed it since" in response.content.decode()


def test_decline_needs_a_reason_and_closes_the_request(
    client, operator, second_operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(second_operator)

    without = client.post(f"/changes/{change.pk}/decline/", {"reason": " "}, follow=True)
    assert "Please say why you decline this request." in without.content.decode()
    assert ChangeRequest.objects.get().status == "open"

    client.post(f"/changes/{change.pk}/decline/", {"reason": "not during the sale"})

    change.refresh_from_db()
    assert change.status == "declined"
    decline = AuditEvent.objects.get(action="decline")
    assert decline.reason == "not during the sale"
    client.force_login(operator)
    refused = client.post(f"/changes/{change.pk}/apply/", follow=True)
    assert "cannot be applied: it is declined" in refused.content.decode()
    assert api_writes(on_sandbox) == []


def test_it_applies_itself_when_approved_if_the_requester_chose_so(
    client, operator, second_operator, on_sandbox
):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item, apply_when_approved="1")
    change = ChangeRequest.objects.get()
    assert change.apply_when_approved

    client.force_login(second_operator)
    response = client.post(f"/changes/{change.pk}/approve/", follow=True)

    assert "Approved and applied" in response.content.decode()
    assert not read_back(on_sandbox, item)["enabled_at"]
    write = AuditEvent.objects.get(action="disable", outcome="succeeded")
    # The approval applied it: the approver acted, at the request of (and with the key of) the
    # person who asked.
    assert write.actor_name == "Olga Other"
    assert "at the request of Oscar Operator" in audit.describe(write.completes)
    assert read_back(on_sandbox, item) and ChangeRequest.objects.get().status == "applied"


def test_an_admin_breaks_glass_with_a_reason(client, operator, admin_user, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(admin_user)

    no_reason = client.post(f"/changes/{change.pk}/apply/", {"break_glass": "1"}, follow=True)
    assert "without waiting for approval, say why" in no_reason.content.decode()
    assert api_writes(on_sandbox) == []

    client.post(
        f"/changes/{change.pk}/apply/",
        {"break_glass": "1", "break_glass_reason": "data leaking to the wrong shop"},
    )

    assert not read_back(on_sandbox, item)["enabled_at"]
    change.refresh_from_db()
    assert change.status == "applied" and change.break_glass
    assert AuditEvent.objects.get(action="break_glass").reason == "data leaking to the wrong shop"
    write = AuditEvent.objects.get(action="disable", outcome="succeeded")
    assert write.after["break_glass"] == "data leaking to the wrong shop"
    sentence = audit.describe(write.completes)
    assert "without waiting for approval: data leaking to the wrong shop" in sentence
    listing = client.get("/changes/").content.decode()
    assert "applied without waiting for approval" in listing
    audit_page = client.get("/audit/").content.decode()
    assert "without waiting for approval" in audit_page


def test_an_operator_cannot_break_glass(client, operator, second_operator, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    client.force_login(second_operator)
    response = client.post(
        f"/changes/{change.pk}/apply/",
        {"break_glass": "1", "break_glass_reason": "hurry"},
        follow=True,
    )
    assert "Only an Admin can apply a change without approval." in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_requests_expire_after_the_configured_days(client, operator, viewer, on_sandbox, settings):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    ChangeRequest.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    client.force_login(viewer)
    page = client.get("/changes/").content.decode()

    assert ChangeRequest.objects.get().status == "expired"
    assert "No request is open." in page
    expired = AuditEvent.objects.get(action="expire")
    assert expired.actor_name == "change control"


def test_the_list_shows_what_waits_for_me(client, operator, second_operator, viewer, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    client.force_login(second_operator)
    assert "Requests waiting for my decision" in client.get("/changes/").content.decode()
    client.force_login(operator)
    assert "Nothing is waiting for your decision." in client.get("/changes/").content.decode()
    client.force_login(viewer)
    assert "Nothing is waiting for your decision." in client.get("/changes/").content.decode()
    assert client.post("/changes/1/approve/").status_code == 403


def test_an_edit_in_a_protected_environment_becomes_a_request(client, editor, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(editor)
    form = client.get(deployment_url(item, "edit/")).content.decode()
    assert "need 1 approval from another person" in form
    opened = form.split('name="opened" value="', 1)[1].split('"', 1)[0]
    new_priority = 1 if item.get("priority") != 1 else 2
    response = client.post(
        deployment_url(item, "edit/"),
        {
            "environment": str(item["virtual_environment_id"]),
            "priority": str(new_priority),
            "enabled_at": "",
            "opened": opened,
            "reason": "faster",
        },
    )
    change = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/changes/{change.pk}/"
    assert change.action == "update" and change.proposed["changes"]["priority"] == new_priority
    assert api_writes(on_sandbox) == []


def test_the_deployment_page_links_its_open_requests(client, operator, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask_to_disable(client, operator, item)
    change = ChangeRequest.objects.get()
    page = client.get(deployment_url(item)).content.decode()
    assert f'<a href="/changes/{change.pk}/">change request {change.pk}</a>' in page
    ChangeRequest.objects.update(status="declined")
    assert "Waiting for approval:" not in client.get(deployment_url(item)).content.decode()


def test_people_who_may_approve_are_told_a_request_waits_for_them(
    client, operator, second_operator, viewer, on_sandbox
):
    mine = [events.KIND_REQUEST_FOR_ME]
    for person in (operator, second_operator, viewer):
        Subscription.objects.create(user=person, name="Waiting for me", kinds=mine)
    protect("live")
    ask_to_disable(client, operator, find_deployment(on_sandbox, enabled=True, live=True))

    told = Delivery.objects.filter(kind=events.KIND_REQUEST_FOR_ME)
    # The requester and a Viewer (who may not approve) are not told; the other Operator is.
    assert [delivery.subscription.user for delivery in told] == [second_operator]
    assert told.get().event_id == AuditEvent.objects.get(action="request").pk
