"""The Patchworks client against mocked HTTP (responses): requests, parsing, errors, retries.

The live counterpart, over real HTTP against the sandbox, is test_client_sandbox.py.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.views.debug import ExceptionReporter
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from deployments_ui.patchworks import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    MalformedResponse,
    NotFound,
    PatchworksClient,
    PatchworksError,
    RateLimited,
    ServerError,
    Timeout,
    Unauthorized,
    ValidationFailed,
    reset_session,
    transport,
)
from deployments_ui.patchworks.types import parse_deployment, parse_one, parse_page
from tests.factories import deployment_json

KEY = "pw-test-KEY-7f3e9c21d4b8a6"
BASE = "https://patchworks.test"
API = f"{BASE}/api/v1"
LIST = f"{API}/flow-version-deployments"
ONE = f"{API}/flow-versions/11/deployments/42"
DEFAULT_INCLUDE = "flowVersion,virtualEnvironment,package,enabledBy"
UNKNOWN = (
    "Patchworks did not answer in time, so we don't know whether the change was made. "
    "Open the deployment to check."
)


@pytest.fixture(autouse=True)
def patchworks_settings(settings):
    settings.PATCHWORKS_BASE_URL = BASE
    settings.PATCHWORKS_CONNECT_TIMEOUT = 1.5
    settings.PATCHWORKS_READ_TIMEOUT = 4.0
    settings.PATCHWORKS_GET_RETRIES = 2
    settings.PATCHWORKS_RETRY_AFTER_CAP = 0.1
    reset_session()
    yield settings
    reset_session()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return PatchworksClient(KEY)


def page_json(items, **meta):
    base = {"current_page": 1, "from": 1, "last_page": 1, "path": LIST, "per_page": 15}
    base.update({"to": len(items), "total": len(items)}, **meta)
    links = {"first": f"{LIST}?page=1", "last": f"{LIST}?page=1", "prev": None, "next": None}
    return {"data": items, "links": links, "meta": base}


def query_of(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


# Requests: method, path, query, body, headers ----------------------------------------------


def test_list_deployments_sends_defaults_and_headers(rsps, client):
    rsps.get(LIST, json=page_json([deployment_json()]))
    page = client.list_deployments()
    request = rsps.calls[0].request
    assert query_of(rsps.calls[0]) == {"include": DEFAULT_INCLUDE, "page": "1", "per_page": "15"}
    assert request.headers["Authorization"] == KEY
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == "deployments-console/0.1"
    assert "Content-Type" not in request.headers
    assert [d.id for d in page.items] == ["42"]
    assert page.total == 1


def test_list_deployments_encodes_filters_sort_and_paging(rsps, client):
    rsps.get(LIST, json=page_json([]))
    client.list_deployments(
        filters={
            "package_id": ["8", "9"],
            "virtual_environment_id": "3",
            "global": "0",
            "flowVersion.flow": ("7",),
            "name": "Orders to ERP",
            "LIKE": "order",
        },
        include=("flowVersion", "user"),
        sort="-created_at",
        page=3,
        per_page=50,
    )
    assert query_of(rsps.calls[0]) == {
        "filter[package_id]": "8,9",
        "filter[virtual_environment_id]": "3",
        "filter[global]": "0",
        "filter[flowVersion.flow]": "7",
        "filter[name]": "Orders to ERP",
        "filter[LIKE]": "order",
        "include": "flowVersion,user",
        "sort": "-created_at",
        "page": "3",
        "per_page": "50",
    }
    assert "filter%5Bpackage_id%5D=8%2C9" in rsps.calls[0].request.url


def test_list_deployments_leaves_out_empty_filters_and_includes(rsps, client):
    rsps.get(LIST, json=page_json([]))
    client.list_deployments(filters={"package_id": [], "LIKE": ""}, include=())
    assert query_of(rsps.calls[0]) == {"page": "1", "per_page": "15"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": {"flow_id": "1"}},
        {"sort": "priority"},
        {"sort": "flow_versions.id"},
        {"sort": "DESC"},
        {"include": ("flowVersion", "owner")},
    ],
)
def test_list_deployments_refuses_unknown_keys(rsps, client, kwargs):
    with pytest.raises(ValueError):
        client.list_deployments(**kwargs)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "sort", ["created_at", "-enabled_at", "flow_name", "-flow_version_iteration"]
)
def test_list_deployments_accepts_documented_sorts(rsps, client, sort):
    rsps.get(LIST, json=page_json([]))
    client.list_deployments(sort=sort)
    assert query_of(rsps.calls[0])["sort"] == sort


def test_page_numbers_are_clamped(rsps, client):
    rsps.get(LIST, json=page_json([]))
    client.list_deployments(page=0, per_page=500)
    assert query_of(rsps.calls[0])["page"] == "1"
    assert query_of(rsps.calls[0])["per_page"] == "100"


def test_list_flow_version_deployments(rsps, client):
    rsps.get(f"{API}/flow-versions/11/deployments", json=page_json([deployment_json()]))
    page = client.list_flow_version_deployments("11", page=2, per_page=10)
    assert query_of(rsps.calls[0]) == {"include": DEFAULT_INCLUDE, "page": "2", "per_page": "10"}
    assert page.items[0].flow_version_id == "11"


def test_get_deployment(rsps, client):
    rsps.get(ONE, json={"data": deployment_json()})
    deployment = client.get_deployment("11", "42", include=("user",))
    assert query_of(rsps.calls[0]) == {"include": "user"}
    assert deployment.id == "42"
    assert deployment.environment_name == "Production EU"


def test_ids_may_be_ints(rsps, client):
    rsps.get(ONE, json={"data": deployment_json()})
    assert client.get_deployment(11, 42).id == "42"


def test_create_deployment_posts_the_body(rsps, client):
    rsps.post(
        f"{API}/flow-versions/11/deployments",
        json={"data": deployment_json(enabled_at=None, enabled_by=None, enabledBy=None)},
    )
    deployment = client.create_deployment(
        "11", virtual_environment_id="3", priority=2, deploy_disabled=True
    )
    request = rsps.calls[0].request
    assert json.loads(request.body) == {
        "flow_version_id": "11",
        "virtual_environment_id": "3",
        "priority": 2,
        "deploy_disabled": True,
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == KEY
    assert not deployment.is_enabled


def test_create_global_deployment_sends_null_environment(rsps, client):
    rsps.post(
        f"{API}/flow-versions/11/deployments",
        json={"data": deployment_json(virtual_environment_id=None, virtualEnvironment=None)},
        match=[
            matchers.json_params_matcher(
                {
                    "flow_version_id": "11",
                    "virtual_environment_id": None,
                    "priority": None,
                    "deploy_disabled": False,
                }
            )
        ],
    )
    deployment = client.create_deployment(
        "11", virtual_environment_id=None, priority=None, deploy_disabled=False
    )
    assert deployment.environment_name == "No environment (global)"


def test_update_deployment_puts_only_the_changes(rsps, client):
    rsps.put(ONE, json={"data": deployment_json(priority=1)})
    when = datetime(2025, 4, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    deployment = client.update_deployment(
        "11", "42", changes={"priority": 1, "enabled_at": when, "virtual_environment_id": 4}
    )
    assert json.loads(rsps.calls[0].request.body) == {
        "priority": 1,
        "enabled_at": "2025-04-01T09:00:00+00:00",
        "virtual_environment_id": "4",
    }
    assert deployment.priority == 1


def test_update_deployment_sends_nulls(rsps, client):
    rsps.put(ONE, json={"data": deployment_json()})
    client.update_deployment("11", "42", changes={"enabled_at": None, "priority": None})
    assert json.loads(rsps.calls[0].request.body) == {"enabled_at": None, "priority": None}


@pytest.mark.parametrize(
    "changes", [{"name": "x"}, {"flow_version_id": "2"}, {"enabled_at": datetime(2025, 1, 1)}]
)
def test_update_deployment_refuses_other_fields(rsps, client, changes):
    with pytest.raises(ValueError):
        client.update_deployment("11", "42", changes=changes)
    assert len(rsps.calls) == 0


def test_delete_deployment_returns_the_message(rsps, client):
    rsps.delete(ONE, json={"message": "Deployment deleted successfully."})
    assert client.delete_deployment("11", "42") == "Deployment deleted successfully."
    assert rsps.calls[0].request.method == "DELETE"


@pytest.mark.parametrize("status,body", [(200, ""), (204, ""), (200, "{}")])
def test_delete_deployment_without_a_message(rsps, client, status, body):
    rsps.delete(ONE, status=status, body=body)
    assert client.delete_deployment("11", "42") == "The deployment was deleted."


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_and_disable_post_without_a_body(rsps, client, action):
    enabled_at = "2025-03-01T09:30:00Z" if action == "enable" else None
    rsps.post(f"{ONE}/{action}", json={"data": deployment_json(enabled_at=enabled_at)})
    deployment = getattr(client, f"{action}_deployment")("11", "42")
    request = rsps.calls[0].request
    assert request.body is None
    assert "Content-Type" not in request.headers
    assert deployment.is_enabled is (action == "enable")


def test_pickers(rsps, client):
    rsps.get(
        f"{LIST}/virtual-environments",
        json=page_json([{"id": 3, "name": "Production EU", "type": "live"}]),
    )
    rsps.get(f"{LIST}/packages", json=page_json([{"id": 8, "name": "Shopify"}]))
    rsps.get(f"{API}/flows", json=page_json([{"id": 7, "name": "Orders", "priority": 3}]))
    rsps.get(
        f"{API}/flows/7/versions",
        json=page_json([{"id": 11, "flow_id": 7, "iteration": 1, "status": "Draft"}]),
    )
    environments = client.list_virtual_environments(name="Prod")
    packages = client.list_packages(page=2, per_page=20)
    flows = client.list_flows()
    versions = client.list_flow_versions("7")
    assert query_of(rsps.calls[0]) == {"filter[name]": "Prod", "page": "1", "per_page": "100"}
    assert query_of(rsps.calls[1]) == {"page": "2", "per_page": "20"}
    assert query_of(rsps.calls[2]) == {"page": "1", "per_page": "100"}
    assert query_of(rsps.calls[3]) == {"page": "1", "per_page": "100"}
    assert environments.items[0].is_live
    assert packages.items[0].name == "Shopify"
    assert flows.items[0].priority == 3
    assert versions.items[0].flow_id == "7"


@pytest.mark.parametrize("bad", ["", "../42", "4/2", "42?x=1", "4 2", None, True, "x" * 65])
def test_impossible_ids_are_not_found_without_a_call(rsps, client, bad):
    with pytest.raises(NotFound) as caught:
        client.get_deployment("11", bad)
    with pytest.raises(NotFound):
        client.enable_deployment(bad, "42")
    with pytest.raises(NotFound):
        client.list_flow_versions(bad)
    assert caught.value.message == "This deployment no longer exists in Patchworks."
    assert caught.value.status is None
    assert len(rsps.calls) == 0


def test_a_key_that_cannot_be_a_header_is_refused_without_a_call(rsps):
    rsps.get(LIST, json=page_json([]))
    with pytest.raises(Unauthorized) as caught:
        PatchworksClient(f"{KEY}\r\nX-Evil: 1").list_deployments()
    assert "My API key page" in caught.value.message
    assert KEY not in str(caught.value)
    assert len(rsps.calls) == 0


def test_the_key_must_be_a_string():
    with pytest.raises(TypeError):
        PatchworksClient(None)


def test_boolean_filters_are_sent_as_digits(rsps, client):
    rsps.get(LIST, json=page_json([]))
    client.list_deployments(filters={"global": True})
    client.list_deployments(filters={"global": False})
    assert [query_of(c)["filter[global]"] for c in rsps.calls] == ["1", "0"]


def test_cookies_are_not_carried_between_calls(rsps, client):
    rsps.get(LIST, json=page_json([]), headers={"Set-Cookie": "laravel_session=abc; Path=/"})
    client.list_deployments()
    client.list_deployments()
    assert "Cookie" not in rsps.calls[1].request.headers


# Parsing variants --------------------------------------------------------------------------


def test_parses_the_documented_shape(rsps, client):
    rsps.get(ONE, json={"data": deployment_json()})
    d = client.get_deployment("11", "42")
    assert (d.id, d.flow_version_id, d.virtual_environment_id, d.package_id) == (
        "42",
        "11",
        "3",
        "8",
    )
    assert d.priority == 2
    assert d.enabled_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert (d.enabled_by_id, d.user_id) == ("5", "6")
    assert d.flow_name == "Orders to ERP"
    assert d.is_global is False
    assert d.flow_version_iteration == 4
    assert d.flow_version.flow.name == "Orders to ERP"
    assert d.flow_id == "7"
    assert d.environment_type == "live"
    assert d.virtual_environment.is_live
    assert d.package.name == "Shopify"
    assert d.enabled_by.email == "ada@example.com"
    assert d.user is None
    assert d.is_enabled


def test_parses_attributes_style():
    body = {
        "data": {
            "id": "42",
            "type": "flow-version-deployments",
            "attributes": {
                "flow_version_id": "11",
                "virtual_environment_id": "3",
                "enabled_at": "2025-03-01T09:30:00+02:00",
                "name": "Orders",
                "flowVersion": {"id": "11", "attributes": {"flow_id": "7", "iteration": "2"}},
            },
            "relationships": {
                "virtualEnvironment": {
                    "data": {"id": "3", "attributes": {"name": "Test", "type": "TEST"}}
                }
            },
        }
    }
    d = parse_one(body, parse_deployment)
    assert (d.id, d.flow_version_id, d.flow_id) == ("42", "11", "7")
    assert d.flow_version.iteration == 2
    assert d.enabled_at == datetime(2025, 3, 1, 7, 30, tzinfo=UTC)
    assert d.virtual_environment.name == "Test"
    assert d.environment_type == "test"


def test_parses_snake_case_relations_and_enabled_by_object():
    body = deployment_json()
    for camel in ("flowVersion", "virtualEnvironment", "enabledBy"):
        body.pop(camel)
    body.update(
        flow_version={"id": 11, "flow_id": 7, "status": "Deployed"},
        virtual_environment={"id": 3, "name": "Staging", "type": "test"},
        enabled_by={"id": 9, "name": "Bob", "email": "bob@example.com"},
    )
    d = parse_one(body, parse_deployment)  # bare object, no "data"
    assert d.flow_version.flow_id == "7"
    assert d.virtual_environment.name == "Staging"
    assert d.enabled_by.name == "Bob"
    assert d.enabled_by_id == "9"


def test_enabled_by_as_an_id_only():
    d = parse_deployment(deployment_json(enabled_by=5, enabledBy=None))
    assert d.enabled_by_id == "5"
    assert d.enabled_by is None


def test_missing_optional_and_unknown_fields():
    d = parse_deployment({"id": 1, "flow_version_id": 2, "surprise": {"nested": [1, 2]}})
    assert (d.id, d.flow_version_id) == ("1", "2")
    assert d.virtual_environment_id is None and d.package_id is None and d.priority is None
    assert d.enabled_at is None and d.enabled_by_id is None and d.user_id is None
    assert d.flow_name == "" and d.flow_id == "" and d.environment_type == ""
    assert d.is_global is True
    assert d.environment_name == "No environment (global)"
    assert d.flow_version_iteration is None and d.created_at is None
    assert not d.is_enabled


def test_environment_not_included_shows_its_id():
    d = parse_deployment({"id": 1, "flow_version_id": 2, "virtual_environment_id": 3})
    assert d.is_global is False
    assert d.environment_name == "Environment 3"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2025-03-01T09:30:00Z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00.123456Z", datetime(2025, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2025-03-01T10:30:00+01:00", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01 09:30:00", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (1740821400, None),
    ],
)
def test_datetimes(text, expected):
    d = parse_deployment({"id": 1, "flow_version_id": 2, "created_at": text})
    assert d.created_at == expected
    assert d.created_at is None or d.created_at.tzinfo is not None


def test_page_meta_with_nulls():
    page = parse_page(
        page_json([], **{"from": None, "to": None, "total": 0, "current_page": 4, "last_page": 3}),
        parse_deployment,
        page=4,
        per_page=15,
    )
    assert page.items == [] and page.from_index is None and page.to_index is None
    assert page.has_previous and not page.has_next


def test_page_meta_read_from_meta():
    items = [deployment_json(id=i) for i in range(16, 31)]
    body = page_json(items, current_page=2, last_page=5, per_page=15, total=70, to=30)
    body["meta"]["from"] = 16
    page = parse_page(body, parse_deployment, page=2, per_page=15)
    assert (page.total, page.current_page, page.last_page, page.per_page) == (70, 2, 5, 15)
    assert (page.from_index, page.to_index) == (16, 30)
    assert page.has_next and page.has_previous


def test_page_without_meta_is_worked_out():
    page = parse_page({"data": [{"id": 1}, {"id": 2}]}, parse_deployment, page=3, per_page=10)
    assert (page.total, page.current_page, page.last_page) == (22, 3, 3)
    assert (page.from_index, page.to_index) == (21, 22)
    assert not page.has_next


def test_page_without_meta_but_a_next_link_has_a_next_page():
    body = {"data": [{"id": 1}], "links": {"next": "https://elsewhere.example/?page=2"}}
    page = parse_page(body, parse_deployment, page=1, per_page=1)
    assert page.has_next


def test_laravel_paginator_fields_at_top_level():
    body = {"data": [{"id": 1}], "current_page": 2, "last_page": 9, "total": 90, "per_page": 10}
    page = parse_page(body, parse_deployment, page=1, per_page=15)
    assert (page.current_page, page.last_page, page.total, page.per_page) == (2, 9, 90, 10)


def test_list_items_without_an_id_are_skipped(rsps, client, caplog):
    rsps.get(LIST, json=page_json([{"name": "no id"}, deployment_json(), "junk"]))
    page = client.list_deployments()
    assert [d.id for d in page.items] == ["42"]
    assert "skipped an unreadable list item" in caplog.text


@pytest.mark.parametrize("body", [{"data": {"id": 1}}, {"items": []}, [1, 2], "text", None])
def test_list_with_the_wrong_shape_is_malformed(rsps, client, body):
    rsps.get(LIST, json=body)
    if body == [1, 2]:
        # A bare list is accepted as items; these items have no id, so the page is empty.
        assert client.list_deployments().items == []
        return
    with pytest.raises(MalformedResponse) as caught:
        client.list_deployments()
    assert caught.value.outcome_unknown is False


# Error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,error_class,message",
    [
        (401, Unauthorized, "Patchworks rejected your API key — update it on the My API key page."),
        (403, Forbidden, "Your Patchworks API key is not allowed to see this."),
        (404, NotFound, "This deployment no longer exists in Patchworks."),
        (409, Conflict, "Patchworks refused the change: Already deployed."),
        (400, BadRequest, "Patchworks refused the request (error 400): Already deployed."),
        (418, BadRequest, "Patchworks refused the request (error 418): Already deployed."),
        (
            500,
            ServerError,
            "Patchworks is not answering properly right now (error 500). Try again in a minute.",
        ),
    ],
)
def test_status_errors(rsps, client, status, error_class, message):
    rsps.get(ONE, status=status, json={"message": "Already deployed."})
    with pytest.raises(error_class) as caught:
        client.get_deployment("11", "42")
    assert caught.value.message == message == str(caught.value)
    assert caught.value.status == status
    assert caught.value.outcome_unknown is False
    assert isinstance(caught.value, PatchworksError)


def test_not_found_says_what_was_missing(rsps, client):
    rsps.get(f"{API}/flows/7/versions", status=404, json={"message": "No query results"})
    rsps.get(f"{API}/flow-versions/11/deployments", status=404, json={"message": "x"})
    with pytest.raises(NotFound, match="This flow no longer exists"):
        client.list_flow_versions("7")
    with pytest.raises(NotFound, match="This flow version no longer exists"):
        client.list_flow_version_deployments("11")


def test_validation_errors_keep_field_messages(rsps, client):
    rsps.post(
        f"{API}/flow-versions/11/deployments",
        status=422,
        json={
            "message": "The priority field must not be greater than 5. (and 1 more error)",
            "errors": {
                "priority": ["The priority field must not be greater than 5."],
                "virtual_environment_id": "This flow already has a version in this environment.",
            },
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        client.create_deployment(
            "11", virtual_environment_id="3", priority=9, deploy_disabled=False
        )
    error = caught.value
    assert error.status == 422
    assert error.message.startswith("The priority field must not be greater than 5.")
    assert error.field_errors == {
        "priority": ["The priority field must not be greater than 5."],
        "virtual_environment_id": ["This flow already has a version in this environment."],
    }
    assert error.outcome_unknown is False


def test_upstream_text_is_cut_and_cleaned(rsps, client):
    rsps.put(ONE, status=422, json={"message": "x\n" * 400 + KEY, "errors": None})
    with pytest.raises(ValidationFailed) as caught:
        client.update_deployment("11", "42", changes={"priority": 1})
    assert len(caught.value.message) <= 300
    assert "\n" not in caught.value.message
    assert caught.value.field_errors == {}


def test_validation_without_a_body(rsps, client):
    rsps.put(ONE, status=422, body="<html>nope</html>")
    with pytest.raises(ValidationFailed) as caught:
        client.update_deployment("11", "42", changes={"priority": 1})
    assert caught.value.message == "Patchworks did not accept these values."


def test_429_on_a_write_reports_retry_after(rsps, client):
    rsps.post(f"{ONE}/enable", status=429, headers={"Retry-After": "30"}, json={"message": "Too"})
    with pytest.raises(RateLimited) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.retry_after == 30
    assert caught.value.message == "Patchworks is busy — try again in 30 seconds."
    assert len(rsps.calls) == 1


def test_429_with_an_http_date(rsps, client):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    rsps.post(f"{ONE}/enable", status=429, headers={"Retry-After": when})
    with pytest.raises(RateLimited) as caught:
        client.enable_deployment("11", "42")
    assert 80 <= caught.value.retry_after <= 91


def test_429_without_retry_after(rsps, client):
    rsps.post(f"{ONE}/enable", status=429)
    with pytest.raises(RateLimited) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.retry_after is None
    assert caught.value.message == "Patchworks is busy — try again in a minute."


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_reads(rsps, client, status):
    rsps.get(LIST, status=status, body="<html>Bad Gateway</html>")
    with pytest.raises(ServerError) as caught:
        client.list_deployments()
    assert caught.value.message == (
        f"Patchworks is not answering properly right now (error {status}). Try again in a minute."
    )
    assert caught.value.outcome_unknown is False


@pytest.mark.parametrize("status,unknown", [(500, False), (502, True), (503, False), (504, True)])
def test_gateway_errors_on_writes_leave_the_outcome_unknown(rsps, client, status, unknown):
    rsps.post(f"{ONE}/disable", status=status)
    with pytest.raises(ServerError) as caught:
        client.disable_deployment("11", "42")
    assert caught.value.outcome_unknown is unknown
    assert ("Open the deployment to check" in caught.value.message) is unknown


def test_connect_timeout(rsps, client):
    rsps.get(LIST, body=requests.ConnectTimeout("connect timed out"))
    rsps.post(f"{ONE}/enable", body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(Timeout) as read:
        client.list_deployments()
    with pytest.raises(Timeout) as write:
        client.enable_deployment("11", "42")
    assert read.value.outcome_unknown is False and write.value.outcome_unknown is False
    assert "Nothing was changed." in write.value.message


def test_read_timeout_on_a_read(rsps, client):
    rsps.get(LIST, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(Timeout) as caught:
        client.list_deployments()
    assert caught.value.outcome_unknown is False
    assert caught.value.message == "Patchworks did not answer in time. Try again in a minute."


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_read_timeout_on_a_write_leaves_the_outcome_unknown(rsps, client, method):
    url = f"{ONE}/enable" if method == "POST" else ONE
    rsps.add(method, url, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(Timeout) as caught:
        if method == "POST":
            client.enable_deployment("11", "42")
        elif method == "PUT":
            client.update_deployment("11", "42", changes={"priority": 1})
        else:
            client.delete_deployment("11", "42")
    assert caught.value.outcome_unknown is True
    assert caught.value.message == UNKNOWN
    assert len(rsps.calls) == 1


def _refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")
    return requests.ConnectionError(MaxRetryError(None, "/api/v1/x", reason))


def test_connection_refused(rsps, client):
    rsps.get(LIST, body=_refused())
    rsps.post(f"{ONE}/enable", body=_refused())
    with pytest.raises(ConnectionFailed) as read:
        client.list_deployments()
    with pytest.raises(ConnectionFailed) as write:
        client.enable_deployment("11", "42")
    assert read.value.message == "Patchworks could not be reached. Try again in a minute."
    assert write.value.outcome_unknown is False
    assert write.value.message.startswith("Patchworks could not be reached.")


def test_connection_dropped_during_a_write_leaves_the_outcome_unknown(rsps, client):
    dropped = requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    rsps.post(f"{ONE}/enable", body=dropped)
    with pytest.raises(ConnectionFailed) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.outcome_unknown is True


def test_timeout_while_reading_the_body_counts_as_a_timeout(rsps, client):
    from urllib3.exceptions import ReadTimeoutError

    rsps.put(ONE, body=requests.ConnectionError(ReadTimeoutError(None, ONE, "Read timed out.")))
    with pytest.raises(Timeout) as caught:
        client.update_deployment("11", "42", changes={"priority": 1})
    assert caught.value.outcome_unknown is True


def test_malformed_body_on_a_read(rsps, client):
    rsps.get(ONE, body="<html>Maintenance</html>", content_type="text/html")
    with pytest.raises(MalformedResponse) as caught:
        client.get_deployment("11", "42")
    assert caught.value.message == "Patchworks sent an answer the console could not read."
    assert caught.value.outcome_unknown is False


@pytest.mark.parametrize("body", ["{not json", "", '"just text"', '{"data": []}'])
def test_a_2xx_write_with_an_unreadable_body_is_done_and_read_back(rsps, client, body):
    rsps.post(f"{ONE}/enable", body=body, content_type="application/json")
    rsps.get(ONE, json={"data": deployment_json(enabled_at="2024-05-01T10:00:00Z")})
    deployment = client.enable_deployment("11", "42")
    assert deployment.is_enabled
    assert [call.request.method for call in rsps.calls] == ["POST", "GET"]


def test_a_write_done_but_not_readable_afterwards_is_written_not_unknown(rsps, client):
    rsps.post(f"{ONE}/enable", status=204)
    rsps.get(ONE, status=503, json={"message": "Down"})
    with pytest.raises(PatchworksError) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.written is True
    assert caught.value.outcome_unknown is False
    assert "Patchworks made the change" in caught.value.message


def test_redirects_are_not_followed(rsps, client):
    rsps.get(LIST, status=302, headers={"Location": "https://login.example/"})
    rsps.get("https://login.example/", json=page_json([]))
    with pytest.raises(MalformedResponse) as caught:
        client.list_deployments()
    assert caught.value.status == 302
    assert len(rsps.calls) == 1


def test_redirect_on_a_write_leaves_the_outcome_unknown(rsps, client):
    rsps.post(f"{ONE}/enable", status=301, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(MalformedResponse) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.outcome_unknown is True


# Retries -------------------------------------------------------------------------------------


def test_get_retried_on_503_then_succeeds(rsps, client):
    rsps.get(LIST, status=503)
    rsps.get(LIST, json=page_json([deployment_json()]))
    assert len(client.list_deployments().items) == 1
    assert len(rsps.calls) == 2


def test_get_with_persistent_503_gives_up_after_the_retries(rsps, client):
    rsps.get(LIST, status=503)
    with pytest.raises(ServerError):
        client.list_deployments()
    assert len(rsps.calls) == 1 + 2


def test_get_retries_follow_the_setting(rsps, client, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    rsps.get(LIST, status=503)
    with pytest.raises(ServerError):
        client.list_deployments()
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("status", [500, 501, 400, 404])
def test_get_not_retried_on_other_statuses(rsps, client, status):
    rsps.get(LIST, status=status)
    with pytest.raises(PatchworksError):
        client.list_deployments()
    assert len(rsps.calls) == 1


def test_get_retried_on_429_with_retry_after_zero(rsps, client):
    rsps.get(LIST, status=429, headers={"Retry-After": "0"})
    rsps.get(LIST, json=page_json([]))
    client.list_deployments()
    assert len(rsps.calls) == 2


def test_get_with_persistent_429_gives_rate_limited(rsps, client):
    rsps.get(LIST, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        client.list_deployments()
    assert caught.value.retry_after == 7
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_writes_are_never_retried(rsps, client, status):
    rsps.post(f"{API}/flow-versions/11/deployments", status=status)
    rsps.put(ONE, status=status)
    rsps.delete(ONE, status=status)
    rsps.post(f"{ONE}/enable", status=status)
    calls = [
        lambda: client.create_deployment(
            "11", virtual_environment_id=None, priority=None, deploy_disabled=False
        ),
        lambda: client.update_deployment("11", "42", changes={"priority": 1}),
        lambda: client.delete_deployment("11", "42"),
        lambda: client.enable_deployment("11", "42"),
    ]
    for number, call in enumerate(calls, start=1):
        with pytest.raises(PatchworksError):
            call()
        assert len(rsps.calls) == number


def _adapter_retry(kind: str):
    sessions = transport._get_sessions()
    return getattr(sessions, kind).get_adapter(BASE).max_retries


def test_retry_configuration_comes_from_settings(settings):
    reads = _adapter_retry("reads")
    assert (reads.total, reads.connect, reads.status) == (2, 2, 2)
    assert reads.allowed_methods == frozenset({"GET"})
    assert set(reads.status_forcelist) == {429, 502, 503, 504}
    assert reads.raise_on_status is False
    writes = _adapter_retry("writes")
    assert writes.total == 0 and writes.read is False
    settings.PATCHWORKS_GET_RETRIES = 5
    assert _adapter_retry("reads").total == 5


class _FakeResponse:
    def __init__(self, retry_after: str) -> None:
        self.headers = {"Retry-After": retry_after}


@pytest.mark.parametrize("header,expected", [("120", 0.1), ("0", 0), ("garbage", 0.0)])
def test_retry_after_is_capped(monkeypatch, header, expected):
    slept: list[float] = []
    monkeypatch.setattr(transport.time, "sleep", slept.append)
    monkeypatch.setattr(sys.modules["urllib3.util.retry"].time, "sleep", slept.append)
    retry = _adapter_retry("reads")
    assert retry.get_retry_after(_FakeResponse(header)) == expected
    retry.new().sleep(_FakeResponse(header))
    assert sum(slept) <= 0.1


def test_retry_after_cap_survives_increment():
    retry = _adapter_retry("reads")
    later = retry.increment("GET", "/x", response=None, error=None)
    assert later.retry_after_cap == 0.1


def test_one_pooled_session_per_process(rsps, client):
    rsps.get(LIST, json=page_json([]))
    first = transport._get_sessions()
    PatchworksClient("another-key").list_deployments()
    client.list_deployments()
    assert transport._get_sessions() is first
    adapter = first.reads.get_adapter(BASE)
    assert adapter._pool_maxsize == 20


def test_concurrent_first_use_builds_one_session():
    seen = []
    barrier = threading.Barrier(8)

    def grab():
        barrier.wait()
        seen.append(transport._get_sessions())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(s) for s in seen}) == 1


def test_reset_session_builds_a_new_one():
    first = transport._get_sessions()
    reset_session()
    assert transport._get_sessions() is not first


@pytest.fixture
def keep_alive_server():
    """A local HTTP/1.1 server that keeps connections open and notes each request's client port."""
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            ports.append(self.client_address[1])
            body = json.dumps({"data": deployment_json()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", ports
    server.shutdown()
    server.server_close()


def test_writes_reuse_only_a_recently_used_connection(keep_alive_server, settings, monkeypatch):
    url, ports = keep_alive_server
    settings.PATCHWORKS_BASE_URL = url
    monkeypatch.setattr(transport._RecentConnectionsOnly, "max_idle_seconds", 0.2)
    writer = PatchworksClient(KEY)
    writer.enable_deployment("11", "42")
    writer.disable_deployment("11", "42")  # at once: the same connection
    time.sleep(0.3)
    writer.enable_deployment("11", "42")  # idle too long: a new one
    assert ports[0] == ports[1] != ports[2]


# Logging and secrecy ---------------------------------------------------------------------------


def test_each_call_is_logged_without_the_key(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.get(ONE, json={"data": deployment_json()})
    client.get_deployment("11", "42")
    records = [r for r in caplog.records if r.name == "deployments_ui.patchworks.transport"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    text = records[0].getMessage()
    assert "GET /flow-versions/11/deployments/42 200 in" in text
    assert text.endswith(" ms")
    assert KEY not in caplog.text


def _failures(rsps, client):
    """Each kind of failure, triggered with the key echoed back wherever a server might."""
    rsps.get(LIST, status=500, body=f"Fatal error: key {KEY}")
    rsps.get(ONE, body=_refused())
    rsps.put(ONE, status=422, json={"message": f"bad key {KEY}", "errors": {"k": [KEY]}})
    rsps.post(f"{ONE}/enable", body=requests.ReadTimeout(f"timed out {KEY}"))
    rsps.post(f"{ONE}/disable", status=400, json={"message": f"Invalid token {KEY}"})
    return [
        client.list_deployments,
        lambda: client.get_deployment("11", "42"),
        lambda: client.update_deployment("11", "42", changes={"priority": 1}),
        lambda: client.enable_deployment("11", "42"),
        lambda: client.disable_deployment("11", "42"),
        lambda: client.list_deployments(filters={"nope": "1"}),
        lambda: client.get_deployment("11", "../42"),
    ]


@pytest.mark.parametrize("debug", [False, True])
def test_the_key_never_shows_in_errors_logs_or_reports(rsps, client, caplog, settings, debug):
    settings.DEBUG = debug
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    assert KEY not in repr(client) and KEY not in str(client)
    for call in _failures(rsps, client):
        with pytest.raises((PatchworksError, ValueError)) as caught:
            call()
        error = caught.value
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in repr(error.args)
        assert KEY not in repr(vars(error))
        report = ExceptionReporter(None, type(error), error, error.__traceback__)
        text = report.get_traceback_text()
        assert "Traceback" in text
        assert KEY not in text
        assert KEY not in report.get_traceback_html()
    assert KEY not in caplog.text
    assert all(KEY not in repr(r.args) for r in caplog.records)
