"""Reads through the API: the deployments list with the list's filters, one deployment, the audit
trail with the audit page's filters and one event; who may call at all; JSON errors."""

from __future__ import annotations

import pytest

from deployments_ui.audit import Actor, record_account
from deployments_ui.models import ApiToken, AuditEvent
from tests.api.helpers import Api, path_of, token_for
from tests.deployments import find_deployment, sandbox_deployments

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, operator, on_sandbox) -> Api:
    return Api(client, token_for(operator))


def test_the_list_takes_the_list_pages_filters(api, on_sandbox):
    live = [
        item
        for item in sandbox_deployments(on_sandbox, "filter[global]=0")
        if (item.get("virtualEnvironment") or {}).get("type") == "live"
    ]
    response = api.get("/deployments", {"environment": "live", "per_page": 10})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["per_page"] == 10 and body["total"] >= len(live) > 0
    assert {item["environment"]["type"] for item in body["items"]} == {"live"}
    first = body["items"][0]
    assert first["url"].startswith("http://testserver/flow-versions/")
    assert first["label"] and first["flow_name"]


def test_the_list_finds_a_flow_by_its_exact_name(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    name = api.get(path_of(item)).json()["flow_name"]
    listed = api.get("/deployments", {"name": name, "per_page": 100}).json()["items"]
    assert str(item["id"]) in {row["id"] for row in listed}
    assert {row["flow_name"] for row in listed} == {name}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 7}, "per_page"),
        ({"environment": "nowhere"}, "environment"),
        ({"page": "x"}, "page"),
    ],
)
def test_a_filter_that_is_not_understood_is_a_field_error(api, params, field):
    response = api.get("/deployments", params)
    assert response.status_code == 400
    assert field in response.json()["field_errors"]


def test_one_deployment(api, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = api.get(path_of(item))
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["enabled"]) == (str(item["id"]), False)


# Who may call


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer cpt_nothing", "Basic abc", "Token x"])
def test_without_a_valid_token_the_answer_is_401_in_json(client, header, db):
    response = client.get("/api/v1/deployments", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "personal API token" in response.json()["message"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_method_the_route_does_not_take_is_405_in_json(client, db):
    response = client.delete("/api/v1/deployments", HTTP_AUTHORIZATION="Bearer cpt_nothing")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json() == {
        "message": "This address takes GET requests only.",
        "field_errors": {},
    }


def test_a_revoked_token_is_refused_at_once(client, operator, on_sandbox):
    from deployments_ui.tokens import services

    api = Api(client, token_for(operator))
    assert api.get("/deployments").status_code == 200
    token = ApiToken.objects.get()
    services.revoke_token(actor=Actor(name="Oscar"), user=operator, token=token)
    assert api.get("/deployments").status_code == 401


def test_a_person_without_a_role_is_refused(client, no_role_user):
    api = Api(client, token_for(no_role_user))
    response = api.get("/deployments")
    assert response.status_code == 403
    assert "role" in response.json()["message"]


def test_a_person_without_a_patchworks_key_is_told_to_save_one(client, keyless_operator):
    api = Api(client, token_for(keyless_operator))
    response = api.get("/deployments")
    assert response.status_code == 403
    assert "My API key" in response.json()["message"]


def test_the_token_records_when_it_was_last_used(api):
    assert ApiToken.objects.get().last_used_at is None
    api.get("/audit")
    assert ApiToken.objects.get().last_used_at is not None


# The audit trail


def disable_through_the_api(api, on_sandbox) -> dict:
    item = find_deployment(on_sandbox, enabled=True, live=False)
    assert api.post(path_of(item, "/disable"), {"reason": "nightly"}).status_code == 200
    return item


def test_the_audit_log_says_each_event_in_its_sentence(api, on_sandbox):
    item = disable_through_the_api(api, on_sandbox)
    response = api.get("/audit", {"action": "disable", "deployment": item["id"]})
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 1 and items[0]["outcome"] == "succeeded"
    assert items[0]["sentence"].startswith("Oscar Operator, by token 'nightly maintenance'")
    assert items[0]["url"].endswith(f"/audit/{items[0]['id']}/")
    assert api.get("/audit", {"action": "enable", "deployment": item["id"]}).json()["items"] == []


def test_the_audit_log_looks_back_from_a_moment(api, on_sandbox):
    disable_through_the_api(api, on_sandbox)
    newest = AuditEvent.objects.latest("id").occurred_at
    recent = api.get("/audit", {"before": newest.isoformat(), "hours": 1}).json()
    assert recent["total"] >= 1
    earlier = api.get("/audit", {"before": "2001-01-01T00:00:00+00:00", "hours": 1}).json()
    assert earlier["total"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"outcome": "won"}, "outcome"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"hours": 0}, "hours"),
    ],
)
def test_an_audit_filter_that_is_not_understood_is_a_field_error(api, params, field):
    response = api.get("/audit", params)
    assert response.status_code == 400
    assert field in response.json()["field_errors"]


def test_one_audit_event_with_its_details(api, on_sandbox):
    disable_through_the_api(api, on_sandbox)
    outcome = AuditEvent.objects.filter(action="disable", completes__isnull=False).get()
    response = api.get(f"/audit/{outcome.pk}")  # an outcome's number shows its attempt
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == outcome.completes_id
    assert body["details"]["Signed in with"] == "a personal API token"
    assert "IP address" not in body["details"]  # only for those who see everything


def test_events_about_people_are_for_admins_only(client, operator, admin_user):
    event = record_account(actor=Actor(name="Adam"), action="roles_changed", account="oscar")
    assert Api(client, token_for(operator)).get(f"/audit/{event.pk}").status_code == 404
    assert Api(client, token_for(admin_user)).get(f"/audit/{event.pk}").status_code == 200
    assert Api(client, token_for(operator, name="x")).get("/audit/999999").status_code == 404


@pytest.mark.parametrize("path", ["/nothing", "/deployments/1/2/3/4", "/audit/x/y"])
def test_a_route_that_does_not_exist_is_a_json_404(client, path, db):
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 404
    assert "openapi.json" in response.json()["message"]


def test_a_token_sent_the_wrong_way_never_reaches_the_log(client, operator, settings, caplog):
    settings.DEBUG = True
    secret = token_for(operator)
    response = client.get("/api/v1/audit", HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 401
    assert secret not in caplog.text


def test_an_unreadable_audit_log_is_a_503_in_plain_words(api, monkeypatch):
    from django.db import DatabaseError

    from deployments_ui.api import audit as audit_routes

    def unreadable(*args, **kwargs):
        raise DatabaseError("gone")

    monkeypatch.setattr(audit_routes, "filtered_events", unreadable)
    response = api.get("/audit")
    assert response.status_code == 503
    assert response.json()["message"].startswith("The audit log cannot be read just now.")
