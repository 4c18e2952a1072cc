"""The client against each response shape Patchworks might answer in (mocked with responses).

The same deployment, environment, flow and versions, written as flat-camel (our first reading),
flat-snake (what neighbouring published schemas use), jsonapi (what Patchworks' own Python
client reads) and bodyless-writes; the client must read the same facts out of each.
"""

from __future__ import annotations

import pytest
import responses

from deployments_ui.patchworks import (
    Forbidden,
    PatchworksClient,
    ValidationFailed,
    reset_session,
)

KEY = "pw-shapes-KEY-1234"
BASE = "https://patchworks.test"
API = f"{BASE}/api/v1"
LIST = f"{API}/flow-version-deployments"
ONE = f"{API}/flow-versions/11/deployments/42"
META = {"current_page": 1, "from": 1, "last_page": 3, "per_page": 15, "to": 1, "total": 31}
LINKS = {"first": f"{LIST}?page=1", "last": f"{LIST}?page=3", "prev": None, "next": None}


@pytest.fixture(autouse=True)
def patchworks_settings(settings):
    settings.PATCHWORKS_BASE_URL = BASE
    settings.PATCHWORKS_GET_RETRIES = 0
    reset_session()
    yield
    reset_session()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return PatchworksClient(KEY)


# The same facts in each shape -------------------------------------------------------------------


def flat_camel() -> dict:
    return {
        "id": 42,
        "flow_version_id": 11,
        "virtual_environment_id": 3,
        "package_id": 8,
        "priority": 2,
        "enabled_at": "2025-03-01T09:30:00.000000Z",
        "enabled_by": 5,
        "name": "Orders to ERP",
        "global": False,
        "flow_version_iteration": 4,
        "created_at": "2025-02-01T08:00:00.000000Z",
        "flowVersion": {
            "id": 11,
            "flow_id": 7,
            "iteration": 4,
            "status": "Deployed",
            "flow": {"id": 7, "name": "Orders to ERP", "priority": 3},
        },
        "virtualEnvironment": {"id": 3, "name": "Production EU", "type": "live"},
        "package": {"id": 8, "name": "Shopify"},
        "enabledBy": {"id": 5, "name": "Ada Admin", "email": "ada@example.com"},
    }


def flat_snake() -> dict:
    return {
        "id": 42,
        "flow_version_id": 11,
        "virtual_environment_id": 3,
        "package_id": 8,
        "priority": 2,
        "enabled_at": "2025-03-01T09:30:00.000000Z",
        "enabled_by_id": 5,
        "global": False,
        "iteration": 4,
        "created_at": "2025-02-01T08:00:00.000000Z",
        "flow_version": {"id": 11, "flow_id": 7, "status": "Deployed"},
        "virtual_environment": {"id": 3, "name": "Production EU", "type": "live"},
        "package": {"id": 8, "name": "Shopify"},
        "enabled_by": {"id": 5, "name": "Ada Admin", "email": "ada@example.com"},
    }


def jsonapi_resource() -> dict:
    return {
        "type": "flow-version-deployments",
        "id": "42",
        "attributes": {
            "priority": 2,
            "enabled_at": "2025-03-01T09:30:00.000000Z",
            "global": False,
            "created_at": "2025-02-01T08:00:00.000000Z",
        },
        "relationships": {
            "flowVersion": {"data": {"type": "flow-versions", "id": "11"}},
            "virtualEnvironment": {"data": {"type": "virtual-environments", "id": "3"}},
            "package": {"data": {"type": "packages", "id": "8"}},
            "enabledBy": {"data": {"type": "users", "id": "5"}},
            "user": {"data": None},
        },
    }


JSONAPI_INCLUDED = [
    {
        "type": "flow-versions",
        "id": "11",
        "attributes": {"status": "Deployed"},
        "relationships": {"flow": {"data": {"type": "flows", "id": "7"}}},
    },
    {
        "type": "virtual-environments",
        "id": "3",
        "attributes": {"name": "Production EU", "type": "live"},
    },
    {"type": "packages", "id": "8", "attributes": {"name": "Shopify"}},
    {"type": "users", "id": "5", "attributes": {"name": "Ada Admin", "email": "ada@example.com"}},
]

ONE_BODY = {
    "flat-camel": lambda: {"data": flat_camel()},
    "flat-snake": lambda: {"data": flat_snake()},
    "jsonapi": lambda: {"data": jsonapi_resource(), "included": JSONAPI_INCLUDED},
}
PAGE_BODY = {
    "flat-camel": lambda: {"data": [flat_camel()], "links": LINKS, "meta": META},
    "flat-snake": lambda: {"data": [flat_snake()], "links": LINKS, "meta": META},
    "jsonapi": lambda: {
        "data": [jsonapi_resource()],
        "included": JSONAPI_INCLUDED,
        "links": LINKS,
        "meta": META,
    },
}
SHAPES = tuple(ONE_BODY)
# What each shape leaves out, for the console to fill from its pickers.
KNOWS_FLOW_NAME = {"flat-camel": True, "flat-snake": False, "jsonapi": False}
KNOWS_VERSION_NUMBER = {"flat-camel": True, "flat-snake": True, "jsonapi": False}


def assert_same_facts(deployment, shape: str) -> None:
    assert deployment.id == "42"
    assert deployment.flow_version_id == "11"
    assert deployment.flow_id == "7"
    assert deployment.virtual_environment_id == "3"
    assert deployment.environment_name == "Production EU"
    assert deployment.environment_type == "live"  # never JSON:API's "virtual-environments"
    assert deployment.virtual_environment.is_live
    assert deployment.package.name == "Shopify"
    assert deployment.package_id == "8"
    assert deployment.priority == 2
    assert deployment.is_enabled
    assert deployment.enabled_by.name == "Ada Admin"
    assert deployment.enabled_by_id == "5"
    assert deployment.is_global is False
    assert deployment.flow_version.status == "Deployed"
    if KNOWS_FLOW_NAME[shape]:
        assert deployment.flow_name == "Orders to ERP"
        assert deployment.flow_label == "Orders to ERP"
    else:
        assert deployment.flow_name == ""
        assert deployment.flow_label == "Unnamed flow"
    if KNOWS_VERSION_NUMBER[shape]:
        assert deployment.flow_version_iteration == 4
        assert deployment.version_label == "Version 4"
    else:
        assert deployment.flow_version_iteration is None
        assert deployment.version_label == "Version number not available"


@pytest.mark.parametrize("shape", SHAPES)
def test_one_deployment_reads_the_same_in_every_shape(rsps, client, shape):
    rsps.get(ONE, json=ONE_BODY[shape]())
    assert_same_facts(client.get_deployment("11", "42"), shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_page_reads_the_same_in_every_shape(rsps, client, shape):
    rsps.get(LIST, json=PAGE_BODY[shape]())
    page = client.list_deployments()
    assert (page.total, page.last_page, page.current_page) == (31, 3, 1)
    assert len(page.items) == 1
    assert_same_facts(page.items[0], shape)


def test_jsonapi_paginator_meta_nested_under_page(rsps, client):
    body = PAGE_BODY["jsonapi"]()
    body["meta"] = {"page": {"currentPage": 2, "lastPage": 5, "perPage": 15, "total": 70}}
    rsps.get(LIST, json=body)
    page = client.list_deployments(page=2)
    assert (page.current_page, page.last_page, page.total) == (2, 5, 70)


def test_an_identifier_missing_from_included_keeps_its_id_and_no_type(rsps, client):
    body = {"data": jsonapi_resource(), "included": []}
    rsps.get(ONE, json=body)
    deployment = client.get_deployment("11", "42")
    assert deployment.virtual_environment_id == "3"
    assert deployment.environment_type == ""
    assert deployment.environment_name == "Environment 3"
    assert deployment.flow_version_id == "11"


def test_a_flattened_jsonapi_type_is_not_an_environment_type(rsps, client):
    item = flat_camel()
    item["virtualEnvironment"] = {"id": 3, "name": "Production EU", "type": "virtual-environments"}
    rsps.get(ONE, json={"data": item})
    assert client.get_deployment("11", "42").environment_type == ""


# Pickers ---------------------------------------------------------------------------------------

VERSIONS = {
    "flat-camel": [
        {"id": 10, "flow_id": 7, "iteration": 3, "status": "Inactive"},
        {"id": 11, "flow_id": 7, "iteration": 4, "status": "Deployed"},
    ],
    "flat-snake": [{"id": 10, "status": "Inactive"}, {"id": 11, "status": "Deployed"}],
    "jsonapi": [
        {
            "type": "flow-versions",
            "id": str(ident),
            "attributes": {"status": status},
            "relationships": {"flow": {"data": {"type": "flows", "id": "7"}}},
        }
        for ident, status in ((10, "Inactive"), (11, "Deployed"))
    ],
}
FLOWS = {
    "flat-camel": [{"id": 7, "name": "Orders to ERP", "priority": 3}],
    "flat-snake": [{"id": 7, "name": "Orders to ERP"}],
    "jsonapi": [{"type": "flows", "id": "7", "attributes": {"name": "Orders to ERP"}}],
}
ENVIRONMENTS = {
    "flat-camel": [{"id": 3, "name": "Production EU", "type": "live"}],
    "flat-snake": [{"id": 3, "name": "Production EU", "type": "live"}],
    "jsonapi": [
        {
            "type": "virtual-environments",
            "id": "3",
            "attributes": {"name": "Production EU", "type": "live"},
        }
    ],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_pickers_read_the_same_in_every_shape(rsps, client, shape):
    rsps.get(f"{API}/flows", json={"data": FLOWS[shape], "meta": META | {"last_page": 1}})
    rsps.get(f"{API}/flows/7/versions", json={"data": VERSIONS[shape]})
    rsps.get(f"{LIST}/virtual-environments", json={"data": ENVIRONMENTS[shape]})
    flows = client.list_flows().items
    assert [(f.id, f.name) for f in flows] == [("7", "Orders to ERP")]
    versions = client.list_flow_versions("7").items
    assert [(v.id, v.status) for v in versions] == [("10", "Inactive"), ("11", "Deployed")]
    if shape == "flat-camel":
        assert [v.iteration for v in versions] == [3, 4]
    else:
        # Published list items carry no number: the console numbers them (see services).
        assert [v.iteration for v in versions] == [None, None]
    if shape == "jsonapi":
        assert {v.flow_id for v in versions} == {"7"}
    environments = client.list_virtual_environments().items
    assert [(e.name, e.type, e.is_live) for e in environments] == [("Production EU", "live", True)]


# Errors ----------------------------------------------------------------------------------------

LARAVEL_422 = {
    "message": "The given data was invalid.",
    "errors": {"priority": ["The priority field must be between 1 and 5."]},
}
JSONAPI_422 = {
    "errors": [
        {
            "status": "422",
            "title": "Unprocessable Entity",
            "detail": "The priority field must be between 1 and 5.",
            "source": {"pointer": "/data/attributes/priority"},
        },
        {
            "status": "422",
            "detail": "Only one version of a flow may be deployed per virtual environment.",
            "source": {"pointer": "/data/relationships/virtualEnvironment"},
        },
    ]
}


@pytest.mark.parametrize("body", [LARAVEL_422, JSONAPI_422], ids=["laravel", "jsonapi"])
def test_validation_errors_reach_their_fields_in_both_error_shapes(rsps, client, body):
    rsps.put(ONE, status=422, json=body)
    with pytest.raises(ValidationFailed) as caught:
        client.update_deployment("11", "42", changes={"priority": 9})
    errors = caught.value.field_errors
    assert errors["priority"] == ["The priority field must be between 1 and 5."]
    if body is JSONAPI_422:
        assert errors["virtual_environment_id"] == [
            "Only one version of a flow may be deployed per virtual environment."
        ]
    assert caught.value.outcome_unknown is False


def test_a_jsonapi_error_without_a_field_becomes_the_message(rsps, client):
    rsps.post(
        f"{ONE}/enable", status=409, json={"errors": [{"status": "409", "detail": "Locked."}]}
    )
    with pytest.raises(Exception) as caught:
        client.enable_deployment("11", "42")
    assert caught.value.message == "Patchworks refused the change: Locked."


def test_a_read_only_key_is_told_plainly_it_may_not_change_deployments(rsps, client):
    rsps.post(f"{ONE}/disable", status=403, json={"message": "This action is unauthorized."})
    with pytest.raises(Forbidden) as caught:
        client.disable_deployment("11", "42")
    assert "may not change deployments" in caught.value.message
    assert caught.value.outcome_unknown is False


# Writes answered without the deployment (bodyless-writes) ------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 204},
        {"status": 200, "json": {"message": "Deployment enabled."}},
        {"status": 200, "body": ""},
        {"status": 202, "json": {}},
    ],
    ids=["204", "message", "empty", "202-empty-object"],
)
@pytest.mark.parametrize("action", ["enable", "disable"])
def test_a_bodyless_enable_or_disable_is_read_back_once(rsps, client, answer, action):
    rsps.post(f"{ONE}/{action}", **answer)
    state = flat_camel() | ({"enabled_at": None} if action == "disable" else {})
    rsps.get(ONE, json={"data": state})
    deployment = getattr(client, f"{action}_deployment")("11", "42")
    assert deployment.is_enabled is (action == "enable")
    assert [c.request.method for c in rsps.calls] == ["POST", "GET"]


def test_a_bodyless_update_is_read_back_once(rsps, client):
    rsps.put(ONE, json={"message": "Deployment updated."})
    rsps.get(ONE, json={"data": flat_camel() | {"priority": 1}})
    assert client.update_deployment("11", "42", changes={"priority": 1}).priority == 1
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("environment", ["3", None], ids=["environment", "global"])
def test_a_bodyless_create_finds_the_new_deployment_in_its_flow_versions_list(
    rsps, client, environment
):
    rsps.post(f"{API}/flow-versions/11/deployments", status=201, json={"message": "Created."})
    others = flat_camel() | {"id": 41, "virtual_environment_id": 9, "virtualEnvironment": None}
    created = flat_camel() | {"virtual_environment_id": environment}
    if environment is None:
        created |= {"virtualEnvironment": None, "global": True}
    rsps.get(f"{API}/flow-versions/11/deployments", json={"data": [others, created]})
    deployment = client.create_deployment(
        "11", virtual_environment_id=environment, priority=None, deploy_disabled=False
    )
    assert deployment.id == "42"
    assert [c.request.method for c in rsps.calls] == ["POST", "GET"]


def test_a_create_answered_with_the_resource_is_not_read_again(rsps, client):
    rsps.post(
        f"{API}/flow-versions/11/deployments",
        status=201,
        json={"data": jsonapi_resource(), "included": JSONAPI_INCLUDED},
    )
    deployment = client.create_deployment(
        "11", virtual_environment_id="3", priority=None, deploy_disabled=False
    )
    assert deployment.environment_type == "live"
    assert len(rsps.calls) == 1


def test_delete_answered_204_is_done(rsps, client):
    rsps.delete(ONE, status=204)
    assert client.delete_deployment("11", "42") == "The deployment was deleted."
    assert len(rsps.calls) == 1
