"""POST /api/v1/flow-versions/{fv}/deployments: creating, and each validation rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.helpers import (
    BASE_FIELDS,
    DEPLOYMENTS,
    assert_schema,
    deployment_url,
    first_deployment,
    flow_without_global,
    free_slot,
    other_version,
    parse_time,
)

WRITE_RELATIONS = {"flowVersion", "virtualEnvironment", "package", "enabledBy"}


def create(sandbox, version, key="sandbox-key-editor", **body):
    return sandbox.api("POST", f"/api/v1/flow-versions/{version}/deployments", key=key, json=body)


def assert_invalid(response, field: str, text: str = "") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert_schema(body, "ValidationError")
    assert body["message"] == "The given data was invalid."
    assert field in body["errors"], body
    assert text in body["errors"][field][0]


def test_it_creates_an_enabled_deployment_by_the_keys_user(sandbox):
    version, env = free_slot(sandbox)
    response = create(sandbox, version, flow_version_id=version, virtual_environment_id=env)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_schema(body, "OneDeployment")
    d = body["data"]
    assert set(d) == BASE_FIELDS | WRITE_RELATIONS
    assert (d["flow_version_id"], d["virtual_environment_id"]) == (version, env)
    assert d["virtualEnvironment"]["id"] == env
    assert d["global"] is False and d["priority"] is None
    assert d["enabledBy"]["name"] == "Edie Editor"
    assert d["enabled_by"] == d["user_id"] == d["enabledBy"]["id"]
    now = datetime.now(UTC)
    assert abs(parse_time(d["enabled_at"]) - now) < timedelta(seconds=30)
    assert d["created_at"] == d["updated_at"]
    assert d["name"] == d["flowVersion"]["flow"]["name"]
    assert d["package_id"] == (d["package"] or {}).get("id")
    assert sandbox.api("GET", deployment_url(d)).json()["data"]["id"] == d["id"]


def test_it_takes_the_package_from_the_flow(sandbox):
    version, env = free_slot(sandbox)
    sibling = sandbox.api("GET", f"/api/v1/flow-versions/{version}/deployments").json()["data"][0]
    d = create(sandbox, version, flow_version_id=version, virtual_environment_id=env).json()
    assert d["data"]["package_id"] == sibling["package_id"]


def test_it_creates_a_disabled_deployment_with_deploy_disabled(sandbox):
    version, env = free_slot(sandbox)
    response = create(
        sandbox, version, flow_version_id=version, virtual_environment_id=env, deploy_disabled=True
    )
    d = response.json()["data"]
    assert d["enabled_at"] is None and d["enabled_by"] is None and d["enabledBy"] is None
    assert d["user_id"] is not None


def test_it_accepts_ids_as_strings_and_a_priority(sandbox):
    version, env = free_slot(sandbox)
    response = create(
        sandbox, version, flow_version_id=str(version), virtual_environment_id=str(env), priority=5
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["priority"] == 5


def test_it_creates_a_global_deployment_once_per_flow(sandbox):
    version = flow_without_global(sandbox)
    response = create(sandbox, version, flow_version_id=version, virtual_environment_id=None)
    assert response.status_code == 200, response.text
    d = response.json()["data"]
    assert d["global"] is True and d["virtualEnvironment"] is None
    again = create(sandbox, version, flow_version_id=version)
    assert_invalid(again, "virtual_environment_id", "global")


def test_it_refuses_a_second_version_of_a_flow_in_one_environment(sandbox):
    taken = first_deployment(sandbox, **{"filter[global]": "0"})
    version = other_version(sandbox, taken)
    response = create(
        sandbox,
        version,
        flow_version_id=version,
        virtual_environment_id=taken["virtual_environment_id"],
    )
    assert_invalid(
        response,
        "virtual_environment_id",
        "Only one version of a flow may be deployed per virtual environment.",
    )


def test_it_refuses_the_same_version_twice_in_one_environment(sandbox):
    taken = first_deployment(sandbox, **{"filter[global]": "0"})
    version = taken["flow_version_id"]
    response = create(
        sandbox,
        version,
        flow_version_id=version,
        virtual_environment_id=taken["virtual_environment_id"],
    )
    assert_invalid(response, "virtual_environment_id", "Only one version")


def test_it_requires_flow_version_id(sandbox):
    version, env = free_slot(sandbox)
    assert_invalid(create(sandbox, version, virtual_environment_id=env), "flow_version_id")


def test_it_requires_flow_version_id_to_match_the_path(sandbox):
    version, env = free_slot(sandbox)
    response = create(sandbox, version, flow_version_id=version + 1, virtual_environment_id=env)
    assert_invalid(response, "flow_version_id", "must match")


@pytest.mark.parametrize("priority", [0, 6, -1, "high", 2.5, True, [1], "+-3", 10**30])
def test_it_refuses_a_priority_outside_1_to_5_or_not_an_integer(sandbox, priority):
    version, env = free_slot(sandbox)
    response = create(
        sandbox, version, flow_version_id=version, virtual_environment_id=env, priority=priority
    )
    assert_invalid(response, "priority")


@pytest.mark.parametrize("env", [999999, "abc", 1.5, 10**30, "+-1"])
def test_it_refuses_an_unknown_environment(sandbox, env):
    version, _ = free_slot(sandbox)
    response = create(sandbox, version, flow_version_id=version, virtual_environment_id=env)
    assert_invalid(response, "virtual_environment_id", "invalid")


def test_it_refuses_a_deploy_disabled_that_is_not_boolean(sandbox):
    version, env = free_slot(sandbox)
    response = create(
        sandbox, version, flow_version_id=version, virtual_environment_id=env, deploy_disabled="no"
    )
    assert_invalid(response, "deploy_disabled")


def test_it_reports_every_invalid_field_at_once(sandbox):
    version, _ = free_slot(sandbox)
    response = create(sandbox, version, virtual_environment_id=999999, priority=9)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {
        "flow_version_id",
        "virtual_environment_id",
        "priority",
    }


@pytest.mark.parametrize("body", [b"not json", b"{broken", b"[1, 2]", b'"text"'])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(sandbox, body):
    version, _ = free_slot(sandbox)
    response = sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{version}/deployments",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert_schema(response.json(), "Message")


def test_it_does_not_create_anything_when_invalid(sandbox):
    before = sandbox.api("GET", DEPLOYMENTS).json()["meta"]["total"]
    version, env = free_slot(sandbox)
    create(sandbox, version, flow_version_id=version, virtual_environment_id=env, priority=0)
    assert sandbox.api("GET", DEPLOYMENTS).json()["meta"]["total"] == before
