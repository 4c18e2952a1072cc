"""PUT, DELETE, enable and disable on /api/v1/flow-versions/{fv}/deployments/{d}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.helpers import (
    DEPLOYMENTS,
    assert_schema,
    deployment_url,
    disabled_one,
    enabled_one,
    first_deployment,
    movable,
    parse_time,
    sibling_in_other_environment,
)


def put(sandbox, deployment, key="sandbox-key-editor", **body):
    return sandbox.api("PUT", deployment_url(deployment), key=key, json=body)


def test_it_updates_the_priority_and_bumps_updated_at(sandbox):
    d = first_deployment(sandbox)
    response = put(sandbox, d, priority=1 if d["priority"] != 1 else 2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_schema(body, "OneDeployment")
    updated = body["data"]
    assert updated["priority"] in {1, 2} and updated["priority"] != d["priority"]
    assert parse_time(updated["updated_at"]) > parse_time(d["updated_at"])
    assert {"flowVersion", "virtualEnvironment", "package", "enabledBy"} <= set(updated)


def test_it_clears_the_priority_with_null(sandbox):
    d = first_deployment(sandbox)
    assert put(sandbox, d, priority=4).json()["data"]["priority"] == 4
    assert put(sandbox, d, priority=None).json()["data"]["priority"] is None


def test_it_moves_a_deployment_to_a_free_environment(sandbox):
    d, env = movable(sandbox)
    updated = put(sandbox, d, virtual_environment_id=env).json()["data"]
    assert updated["virtual_environment_id"] == env
    assert updated["virtualEnvironment"]["id"] == env


def test_it_keeps_a_deployment_in_its_own_environment(sandbox):
    d = enabled_one(sandbox)
    response = put(sandbox, d, virtual_environment_id=d["virtual_environment_id"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["updated_at"] == d["updated_at"], "nothing changed"


def test_it_refuses_to_move_into_an_environment_the_flow_already_uses(sandbox):
    d, sibling = sibling_in_other_environment(sandbox)
    response = put(sandbox, d, virtual_environment_id=sibling["virtual_environment_id"])
    assert response.status_code == 422
    assert "Only one version" in response.json()["errors"]["virtual_environment_id"][0]


def test_it_enables_with_an_enabled_at_time_by_the_keys_user(sandbox):
    d = disabled_one(sandbox)
    response = put(sandbox, d, key="sandbox-key-operator", enabled_at="2024-05-01T10:00:00Z")
    updated = response.json()["data"]
    assert parse_time(updated["enabled_at"]) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert updated["enabledBy"]["name"] == "Oscar Operator"


def test_it_accepts_an_enabled_at_with_an_offset(sandbox):
    d = disabled_one(sandbox)
    updated = put(sandbox, d, enabled_at="2024-05-01T12:00:00+02:00").json()["data"]
    assert parse_time(updated["enabled_at"]) == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_it_disables_with_a_null_enabled_at(sandbox):
    d = enabled_one(sandbox)
    updated = put(sandbox, d, enabled_at=None).json()["data"]
    assert updated["enabled_at"] is None and updated["enabled_by"] is None
    assert updated["enabledBy"] is None


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T00:00:00Z", 12345])
def test_it_refuses_an_invalid_enabled_at(sandbox, value):
    response = put(sandbox, enabled_one(sandbox), enabled_at=value)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["enabled_at"]


def test_it_disables_with_deploy_disabled(sandbox):
    updated = put(sandbox, enabled_one(sandbox), deploy_disabled=True).json()["data"]
    assert updated["enabled_at"] is None and updated["enabledBy"] is None


def test_it_ignores_unknown_fields_and_leaves_updated_at_alone(sandbox):
    d = first_deployment(sandbox)
    response = put(sandbox, d, colour="blue", flow_version_id=1)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["updated_at"] == d["updated_at"]
    assert data["flow_version_id"] == d["flow_version_id"]


@pytest.mark.parametrize(
    "body,field",
    [({"priority": 7}, "priority"), ({"virtual_environment_id": 999999}, "virtual_environment_id")],
)
def test_it_validates_updates_like_creates(sandbox, body, field):
    response = put(sandbox, first_deployment(sandbox), **body)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_it_answers_400_for_an_update_that_is_not_json(sandbox):
    d = first_deployment(sandbox)
    assert sandbox.api("PUT", deployment_url(d), data=b"priority=1").status_code == 400


def test_it_deletes_a_deployment(sandbox):
    d = first_deployment(sandbox)
    total = sandbox.api("GET", DEPLOYMENTS).json()["meta"]["total"]
    response = sandbox.api("DELETE", deployment_url(d))
    assert response.status_code == 200
    assert response.json() == {"message": "Deployment deleted."}
    assert sandbox.api("GET", deployment_url(d)).status_code == 404
    assert sandbox.api("DELETE", deployment_url(d)).status_code == 404
    assert sandbox.api("GET", DEPLOYMENTS).json()["meta"]["total"] == total - 1


def test_it_frees_the_environment_after_a_delete(sandbox):
    d = enabled_one(sandbox)
    sandbox.api("DELETE", deployment_url(d))
    response = sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{d['flow_version_id']}/deployments",
        json={
            "flow_version_id": d["flow_version_id"],
            "virtual_environment_id": d["virtual_environment_id"],
        },
    )
    assert response.status_code == 200, response.text


# --- enable and disable ----------------------------------------------------------------------


def test_it_disables_clearing_enabled_at_and_enabled_by(sandbox):
    d = enabled_one(sandbox)
    response = sandbox.api("POST", deployment_url(d, "/disable"), key="sandbox-key-operator")
    assert response.status_code == 200
    body = response.json()
    assert_schema(body, "OneDeployment")
    data = body["data"]
    assert data["enabled_at"] is None and data["enabled_by"] is None and data["enabledBy"] is None
    assert parse_time(data["updated_at"]) > parse_time(d["updated_at"])
    again = sandbox.api("GET", deployment_url(d)).json()["data"]
    assert again["enabled_at"] is None


def test_it_enables_now_by_the_keys_user(sandbox):
    d = disabled_one(sandbox)
    response = sandbox.api("POST", deployment_url(d, "/enable"), key="sandbox-key-operator")
    assert response.status_code == 200
    data = response.json()["data"]
    assert abs(parse_time(data["enabled_at"]) - datetime.now(UTC)) < timedelta(seconds=30)
    assert data["enabledBy"] == {
        "id": data["enabled_by"],
        "name": "Oscar Operator",
        "email": "oscar@example.com",
    }
    assert data["user_id"] == d["user_id"], "the deployer does not change"


def test_enabling_an_enabled_deployment_changes_nothing(sandbox):
    d = enabled_one(sandbox)
    response = sandbox.api("POST", deployment_url(d, "/enable"), key="sandbox-key-operator")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["enabled_at"], data["enabled_by"], data["updated_at"]) == (
        d["enabled_at"],
        d["enabled_by"],
        d["updated_at"],
    )


def test_disabling_a_disabled_deployment_changes_nothing(sandbox):
    d = disabled_one(sandbox)
    response = sandbox.api("POST", deployment_url(d, "/disable"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["enabled_at"] is None
    assert data["updated_at"] == d["updated_at"]


def test_each_change_gets_a_later_updated_at(sandbox):
    d = enabled_one(sandbox)
    stamps = [d["updated_at"]]
    for action in ("/disable", "/enable", "/disable"):
        stamps.append(sandbox.api("POST", deployment_url(d, action)).json()["data"]["updated_at"])
    times = [parse_time(s) for s in stamps]
    assert times == sorted(times) and len(set(times)) == 4


@pytest.mark.parametrize("action", ["/enable", "/disable"])
def test_enable_and_disable_are_post_only(sandbox, action):
    response = sandbox.api("GET", deployment_url(first_deployment(sandbox), action))
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "message" in response.json()
