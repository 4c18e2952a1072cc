"""A flow version's deployments list, and getting one deployment."""

from __future__ import annotations

import pytest

from tests.sandbox.helpers import (
    ALL_INCLUDES,
    BASE_FIELDS,
    DEPLOYMENTS,
    all_pages,
    assert_schema,
    deployment_url,
    first_deployment,
)


def versions_path(flow_version_id: int | str) -> str:
    return f"/api/v1/flow-versions/{flow_version_id}/deployments"


def test_it_lists_only_that_versions_deployments(sandbox):
    deployment = first_deployment(sandbox)
    version = deployment["flow_version_id"]
    body = sandbox.api("GET", versions_path(version), params={"include": "flowVersion"}).json()
    assert_schema(body, "DeploymentPage")
    assert body["data"] and all(d["flow_version_id"] == version for d in body["data"])
    everywhere = [d for d in all_pages(sandbox, DEPLOYMENTS) if d["flow_version_id"] == version]
    assert body["meta"]["total"] == len(everywhere)
    assert all(set(d) == BASE_FIELDS | {"flowVersion"} for d in body["data"])


def test_it_paginates_a_versions_deployments(sandbox):
    version = first_deployment(sandbox)["flow_version_id"]
    body = sandbox.api("GET", versions_path(version), params={"per_page": 1}).json()
    assert len(body["data"]) == 1
    assert body["meta"]["per_page"] == 1
    assert sandbox.api("GET", versions_path(version), params={"page": 0}).status_code == 422


def test_it_lists_nothing_for_a_version_without_deployments(sandbox):
    flows = all_pages(sandbox, "/api/v1/flows", **{"filter[name]": "Nightly order"})
    versions = all_pages(sandbox, f"/api/v1/flows/{flows[0]['id']}/versions")
    body = sandbox.api("GET", versions_path(versions[0]["id"])).json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0


@pytest.mark.parametrize("version", ["999999", "abc", "1.5", "9" * 30])
def test_it_answers_404_for_an_unknown_flow_version(sandbox, version):
    for method in ("GET", "POST"):
        response = sandbox.api(method, versions_path(version), json={"flow_version_id": version})
        assert response.status_code == 404
        assert_schema(response.json(), "Message")


def test_it_gets_one_deployment_without_relations_by_default(sandbox):
    deployment = first_deployment(sandbox)
    response = sandbox.api("GET", deployment_url(deployment))
    assert response.status_code == 200
    body = response.json()
    assert_schema(body, "OneDeployment")
    deployment.pop("flowVersion")
    assert body["data"] == deployment


def test_it_gets_one_deployment_with_includes(sandbox):
    deployment = first_deployment(sandbox)
    body = sandbox.api("GET", deployment_url(deployment), params={"include": ALL_INCLUDES}).json()
    assert_schema(body, "OneDeployment")
    assert set(body["data"]) == BASE_FIELDS | set(ALL_INCLUDES.split(","))


def test_it_rejects_an_unknown_include_on_one_deployment(sandbox):
    deployment = first_deployment(sandbox)
    response = sandbox.api("GET", deployment_url(deployment), params={"include": "flow"})
    assert response.status_code == 400


@pytest.mark.parametrize("ident", ["999999", "abc", "-1", "9" * 30])
def test_it_answers_404_for_an_unknown_deployment(sandbox, ident):
    deployment = first_deployment(sandbox)
    path = f"{versions_path(deployment['flow_version_id'])}/{ident}"
    for method, suffix in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/enable")]:
        response = sandbox.api(method, path + suffix, json={})
        assert response.status_code == 404, (method, suffix)
        assert_schema(response.json(), "Message")


def test_it_answers_404_for_a_deployment_of_another_flow_version(sandbox):
    deployment = first_deployment(sandbox)
    other = next(
        d
        for d in all_pages(sandbox, DEPLOYMENTS)
        if d["flow_version_id"] != deployment["flow_version_id"]
    )
    path = f"{versions_path(other['flow_version_id'])}/{deployment['id']}"
    for method, suffix in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/disable")]:
        assert sandbox.api(method, path + suffix, json={}).status_code == 404, (method, suffix)
    assert sandbox.api("GET", deployment_url(deployment)).status_code == 200, "still there"
