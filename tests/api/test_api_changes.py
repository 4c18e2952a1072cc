"""Enable, disable, schedule and ask for approval through the API: the one change pipeline with
the same checks as a click, against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui.audit import describe
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import ApiToken, AuditEvent, ScheduledChange
from tests.api.helpers import Api, path_of, token_for
from tests.changes.helpers import freeze_now, protect
from tests.deployments import api_writes, find_deployment, read_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, operator, on_sandbox) -> Api:
    return Api(client, token_for(operator))


def sentence_of(action: str, outcome: str | None = None) -> str:
    events = AuditEvent.objects.filter(action=action, completes__isnull=True)
    if outcome:
        events = events.filter(outcome=outcome)
    return describe(events.latest("id"))


def test_a_disable_in_a_test_environment_is_one_write_attributed_to_the_token(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()

    response = api.post(path_of(item, "/disable"), {"reason": "nightly maintenance window"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outcome"] == "done" and body["deployment"]["enabled"] is False
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["disable"]
    assert not read_back(on_sandbox, item)["enabled_at"]
    sentence = sentence_of("disable")
    assert sentence.startswith("Oscar Operator, by token 'nightly maintenance', disabled ")
    assert "reason: nightly maintenance window — succeeded" in sentence
    assert AuditEvent.objects.filter(action="disable").latest("id").sign_in_method == "token"


def test_an_enable_already_made_is_skipped_and_says_so(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    response = api.post(path_of(item, "/enable"), {})
    assert response.status_code == 200
    assert response.json()["outcome"] == "skipped"
    assert "Already enabled" in response.json()["message"]
    assert api_writes(on_sandbox) == []


def test_a_live_change_that_needs_approval_answers_202_with_the_requests_url(api, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    on_sandbox.clear_requests()

    response = api.post(path_of(item, "/disable"), {"reason": "supplier outage"})

    assert response.status_code == 202, response.content
    body = response.json()
    request = ChangeRequest.objects.get()
    assert body["outcome"] == "waiting"
    assert body["change_request"]["url"].endswith(f"/changes/{request.pk}/")
    assert body["change_request"]["api_url"].endswith(f"/api/v1/change-requests/{request.pk}")
    assert request.apply_when_approved and request.requested_by.username == "oscar"
    assert api_writes(on_sandbox) == []
    assert read_back(on_sandbox, item)["enabled_at"]
    assert sentence_of("request").startswith(
        "Oscar Operator, by token 'nightly maintenance', asked for approval to disable"
    )
    status = api.get(f"/change-requests/{request.pk}")
    assert status.status_code == 200 and status.json()["status"] == "open"


def test_a_live_change_without_a_reason_is_a_field_error(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    response = api.post(path_of(item, "/disable"), {})
    assert response.status_code == 400
    assert response.json()["field_errors"] == {"reason": [response.json()["message"]]}
    assert "need a reason" in response.json()["message"]
    assert sentence_of("disable", "refused").endswith("need a reason")


def test_the_typed_environment_name_is_checked_like_a_click(api, on_sandbox):
    protect("live", approvals=0, confirm_name=True)
    item = find_deployment(on_sandbox, enabled=True, live=True)
    name = item["virtualEnvironment"]["name"]
    on_sandbox.clear_requests()

    wrong = api.post(path_of(item, "/disable"), {"reason": "r", "confirm_name": "nope"})
    assert wrong.status_code == 400 and "confirm_name" in wrong.json()["field_errors"]
    assert api_writes(on_sandbox) == []

    right = api.post(path_of(item, "/disable"), {"reason": "r", "confirm_name": name})
    assert right.status_code == 200 and right.json()["outcome"] == "done"


def test_a_freeze_window_refuses_the_change(api, on_sandbox):
    freeze_now()
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    response = api.post(path_of(item, "/disable"), {"reason": "r"})
    assert response.status_code == 409
    assert "are refused" in response.json()["message"]
    assert api_writes(on_sandbox) == []


def test_a_read_only_token_may_not_change_anything(client, operator, on_sandbox):
    api = Api(client, token_for(operator, ApiToken.Scope.READ_ONLY))
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    response = api.post(path_of(item, "/disable"), {"reason": "r"})
    assert response.status_code == 403
    assert "read only" in response.json()["message"]
    assert api_writes(on_sandbox) == []
    assert "by token 'nightly maintenance', tried to disable" in sentence_of("disable", "refused")
    assert api.get(path_of(item)).status_code == 200


def test_a_test_only_token_changes_test_environments_and_nothing_else(client, operator, on_sandbox):
    api = Api(client, token_for(operator, ApiToken.Scope.TEST_ONLY))
    live = find_deployment(on_sandbox, enabled=True, live=True)
    test = find_deployment(on_sandbox, enabled=True, live=False)
    refused = api.post(path_of(live, "/disable"), {"reason": "r"})
    assert refused.status_code == 403 and "test environments only" in refused.json()["message"]
    assert api.post(path_of(test, "/disable"), {"reason": "r"}).status_code == 200


def test_a_test_only_token_cannot_schedule_or_ask_for_live_changes(client, operator, on_sandbox):
    api = Api(client, token_for(operator, ApiToken.Scope.TEST_ONLY))
    live = find_deployment(on_sandbox, enabled=True, live=True)
    body = {"action": "disable", "at": later(), "reason": "r"}
    assert api.post(path_of(live, "/schedule"), body).status_code == 403
    asked = api.post(path_of(live, "/approval-requests"), {"action": "disable", "reason": "r"})
    assert asked.status_code == 403
    assert not ScheduledChange.objects.exists() and not ChangeRequest.objects.exists()


def test_a_token_never_allows_more_than_the_role(client, viewer, on_sandbox):
    api = Api(client, token_for(viewer))
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    assert api.get(path_of(item)).status_code == 200
    response = api.post(path_of(item, "/disable"), {"reason": "r"})
    assert response.status_code == 403
    schedule = api.post(path_of(item, "/schedule"), {"action": "disable", "at": later()})
    assert schedule.status_code == 403
    assert api_writes(on_sandbox) == [] and not ScheduledChange.objects.exists()


# Scheduling and asking for approval


def later(hours: int = 2) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat(timespec="minutes")


def test_a_change_scheduled_through_the_api_waits_for_its_time(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    response = api.post(
        path_of(item, "/schedule"), {"action": "disable", "at": later(), "reason": "window"}
    )
    assert response.status_code == 201, response.content
    change = ScheduledChange.objects.get()
    assert response.json()["scheduled"][0]["id"] == change.pk
    assert (change.requested_by.username, change.action) == ("oscar", "disable")
    assert api_writes(on_sandbox) == []
    assert sentence_of("schedule").startswith(
        "Oscar Operator, by token 'nightly maintenance', scheduled a change to"
    )


def test_a_scheduled_live_change_asks_for_approval_at_once(api, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    response = api.post(
        path_of(item, "/schedule"), {"action": "disable", "at": later(), "reason": "window"}
    )
    assert response.status_code == 202
    request = ChangeRequest.objects.get()
    assert ScheduledChange.objects.get().change_request == request
    assert response.json()["change_request"]["id"] == request.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "disable", "at": "tomorrow-ish"}, "at"),
        ({"action": "disable", "at": "2000-01-01T02:00"}, None),
        ({"action": "pause", "at": "2030-01-01T02:00"}, "action"),
        ({"at": "2030-01-01T02:00"}, "action"),
    ],
)
def test_a_schedule_with_bad_input_is_refused_with_plain_words(api, on_sandbox, body, field):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    response = api.post(path_of(item, "/schedule"), body)
    assert response.status_code == 400, response.content
    assert response.json()["message"]
    if field:
        assert field in response.json()["field_errors"]
    assert not ScheduledChange.objects.exists()


def test_asking_for_approval_makes_a_request_even_where_no_rule_asks(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.clear_requests()
    response = api.post(path_of(item, "/approval-requests"), {"action": "disable", "reason": "r"})
    assert response.status_code == 202, response.content
    request = ChangeRequest.objects.get()
    assert (request.action, request.approvals_required) == ("disable", 1)
    assert api_writes(on_sandbox) == []


def test_asking_twice_is_refused_with_the_first_requests_number(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    api.post(path_of(item, "/approval-requests"), {"action": "disable", "reason": "r"})
    again = api.post(path_of(item, "/approval-requests"), {"action": "disable", "reason": "r"})
    assert again.status_code == 409
    assert str(ChangeRequest.objects.get().pk) in again.json()["message"]


# Bad input is never a 500


@pytest.mark.parametrize(
    ("suffix", "raw"),
    [("/disable", "{not json"), ("/disable", '{"reason": 5}'), ("/schedule", "[]")],
)
def test_malformed_bodies_answer_400_in_json(api, on_sandbox, suffix, raw):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    response = api.post(path_of(item, suffix), raw=raw)
    assert response.status_code == 400
    assert response.json()["message"] and response.json()["field_errors"]


def test_an_id_that_is_not_a_patchworks_id_is_not_found(api):
    response = api.post("/deployments/a.b/c%20d/disable", {})
    assert response.status_code == 404
    assert response.json() == {"message": "No such deployment.", "field_errors": {}}


def test_a_deployment_patchworks_does_not_know_is_not_found(api, on_sandbox):
    response = api.post("/deployments/999999/999999/disable", {"reason": "r"})
    assert response.status_code == 404
    assert response.json()["message"] == "This deployment no longer exists in Patchworks."


def test_once_another_person_approves_the_scripts_change_is_applied(
    client, operator, editor, on_sandbox
):
    protect("live")
    api = Api(client, token_for(operator))
    item = find_deployment(on_sandbox, enabled=True, live=True)
    assert api.post(path_of(item, "/disable"), {"reason": "supplier outage"}).status_code == 202
    request = ChangeRequest.objects.get()
    client.force_login(editor)
    client.post(f"/changes/{request.pk}/approve/", {"revision": request.revision})
    assert not read_back(on_sandbox, item)["enabled_at"]
    assert "at the request of Oscar Operator (change request" in sentence_of("disable")
    assert api.get(f"/change-requests/{request.pk}").json()["status"] == "applied"


def test_an_admin_may_override_a_freeze_with_a_reason(client, admin_user, on_sandbox):
    freeze_now()
    api = Api(client, token_for(admin_user))
    item = find_deployment(on_sandbox, enabled=True, live=False)
    body = {"reason": "r", "freeze_override": "incident 12: stop the flood"}
    response = api.post(path_of(item, "/disable"), body)
    assert response.status_code == 200, response.content
    override = sentence_of("freeze_override")
    assert override.startswith("Adam Admin, by token 'nightly maintenance', overrode a freeze")
