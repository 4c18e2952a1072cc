"""The sandbox's response shapes, the /__sandbox__/shape control and the read-only key."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.helpers import DEPLOYMENTS, enabled_one, first_deployment, free_slot
from tests.sandbox_fixtures import DEFAULT_SHAPE, READ_ONLY_KEY, SHAPES

INCLUDE = "include=flowVersion,virtualEnvironment,package,enabledBy"


def one_url(item: dict) -> str:
    return f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}"


def test_the_shape_control_sets_reads_and_resets(sandbox):
    assert sandbox.shape() == DEFAULT_SHAPE
    for shape in SHAPES:
        assert sandbox.set_shape(shape) == shape
        assert sandbox.shape() == shape
    assert sandbox.set_shape(None) == DEFAULT_SHAPE
    bad = requests.put(f"{sandbox.url}/__sandbox__/shape", json={"shape": "xml"}, timeout=10)
    assert bad.status_code == 400 and "Unknown shape" in bad.json()["message"]


def test_flat_snake_has_snake_relations_and_no_flow_name(sandbox):
    sandbox.set_shape("flat-snake")
    item = sandbox.api("GET", f"{DEPLOYMENTS}?{INCLUDE}").json()["data"][0]
    assert {"flow_version", "virtual_environment", "package", "iteration"} <= set(item)
    assert not {"flowVersion", "virtualEnvironment", "name", "flow_version_iteration"} & set(item)
    assert "flow" not in item["flow_version"] and item["flow_version"]["flow_id"]
    flow = sandbox.api("GET", "/api/v1/flows").json()["data"][0]
    assert set(flow) == {"id", "name"}
    version = sandbox.api("GET", f"/api/v1/flows/{flow['id']}/versions").json()["data"][0]
    assert "iteration" not in version and "flow_id" not in version


def test_jsonapi_has_resources_relationships_and_included(sandbox):
    sample = first_deployment(sandbox)
    sandbox.set_shape("jsonapi")
    body = sandbox.api("GET", f"{DEPLOYMENTS}?{INCLUDE}").json()
    item = body["data"][0]
    assert item["type"] == "flow-version-deployments" and isinstance(item["id"], str)
    assert "name" not in item["attributes"] and "flow_version_iteration" not in item["attributes"]
    version_ref = item["relationships"]["flowVersion"]["data"]
    included = {(r["type"], r["id"]): r for r in body["included"]}
    version = included[(version_ref["type"], version_ref["id"])]
    assert version["relationships"]["flow"]["data"]["type"] == "flows"
    environment_ref = item["relationships"]["virtualEnvironment"]["data"]
    if environment_ref is not None:
        environment = included[("virtual-environments", environment_ref["id"])]
        assert environment["attributes"]["type"] in {"test", "live"}
    assert body["meta"]["last_page"] > 1
    single = sandbox.api("GET", f"{one_url(sample)}?{INCLUDE}").json()
    assert single["data"]["type"] == "flow-version-deployments" and single["included"]


def test_jsonapi_validation_errors_point_at_their_fields(sandbox):
    item = first_deployment(sandbox)
    sandbox.set_shape("jsonapi")
    response = sandbox.api("PUT", one_url(item), json={"priority": 9})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["source"]["pointer"] == "/data/attributes/priority"
    assert error["detail"] == "The priority field must be between 1 and 5."
    assert sandbox.api("GET", one_url(item), key=None).json()["errors"][0]["status"] == "401"


def test_bodyless_writes_answer_without_the_deployment(sandbox):
    item = enabled_one(sandbox)
    sandbox.set_shape("bodyless-writes")
    disabled = sandbox.api("POST", f"{one_url(item)}/disable")
    assert disabled.status_code == 200 and disabled.json() == {"message": "Deployment disabled."}
    enabled = sandbox.api("POST", f"{one_url(item)}/enable")
    assert enabled.status_code == 204 and enabled.content == b""
    updated = sandbox.api("PUT", one_url(item), json={"priority": 2})
    assert updated.json() == {"message": "Deployment updated."}
    version, environment = free_slot(sandbox)
    created = sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{version}/deployments",
        json={"flow_version_id": version, "virtual_environment_id": environment},
    )
    assert created.status_code == 201 and created.json() == {"message": "Deployment created."}
    assert sandbox.api("DELETE", one_url(item)).status_code == 204
    # Reads keep the flat-camel shape.
    assert "flowVersion" in sandbox.api("GET", f"{DEPLOYMENTS}?{INCLUDE}").json()["data"][0]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_read_only_key_reads_but_may_not_write(sandbox, shape):
    item = enabled_one(sandbox)
    sandbox.set_shape(shape)
    assert sandbox.api("GET", one_url(item), key=READ_ONLY_KEY).status_code == 200
    for method, suffix in [("POST", "/disable"), ("PUT", ""), ("DELETE", "")]:
        response = sandbox.api(method, f"{one_url(item)}{suffix}", key=READ_ONLY_KEY, json={})
        assert response.status_code == 403
    sandbox.set_shape(None)
    assert sandbox.api("GET", one_url(item)).json()["data"]["enabled_at"] is not None
