"""The picker lists: virtual environments, packages, flows and a flow's versions."""

from __future__ import annotations

import pytest

from tests.sandbox.helpers import all_deployments, all_pages, assert_schema

ENVIRONMENTS = "/api/v1/flow-version-deployments/virtual-environments"
PACKAGES = "/api/v1/flow-version-deployments/packages"
FLOWS = "/api/v1/flows"


def test_it_lists_environments_that_have_a_deployment(sandbox):
    body = sandbox.api("GET", ENVIRONMENTS).json()
    assert_schema(body, "EnvironmentPage")
    names = [env["name"] for env in all_pages(sandbox, ENVIRONMENTS)]
    assert len(names) >= 8
    assert "Disaster Recovery" not in names, "it has no deployment"
    assert {env["type"] for env in body["data"]} == {"test", "live"}
    used = {d["virtual_environment_id"] for d in all_deployments(sandbox)} - {None}
    assert {env["id"] for env in all_pages(sandbox, ENVIRONMENTS)} == used


def test_it_filters_environments_by_name_case_insensitively(sandbox):
    items = all_pages(sandbox, ENVIRONMENTS, **{"filter[name]": "lIvE"})
    assert items and all("live" in env["name"].lower() for env in items)


def test_it_lists_packages_that_are_deployed(sandbox):
    body = sandbox.api("GET", PACKAGES).json()
    assert_schema(body, "PackagePage")
    assert [p["name"] for p in body["data"]] == [
        "Magento 2 Connector",
        "NetSuite ERP",
        "Shopify Connector",
    ]


def test_it_filters_packages_by_name(sandbox):
    body = sandbox.api("GET", PACKAGES, params={"filter[name]": "shop"}).json()
    assert [p["name"] for p in body["data"]] == ["Shopify Connector"]


def test_it_lists_flows_paginated(sandbox):
    body = sandbox.api("GET", FLOWS, params={"per_page": 5}).json()
    assert_schema(body, "FlowPage")
    assert len(body["data"]) == 5
    assert body["meta"]["total"] >= 12
    assert set(body["data"][0]) == {"id", "name", "priority"}


def test_it_filters_flows_by_name(sandbox):
    items = all_pages(sandbox, FLOWS, **{"filter[name]": "SHOPIFY"})
    assert len(items) > 1 and all("shopify" in f["name"].lower() for f in items)


def test_it_lists_a_flows_versions_with_iterations(sandbox):
    body = sandbox.api("GET", f"{FLOWS}/1/versions").json()
    assert_schema(body, "FlowVersionPage")
    versions = body["data"]
    assert 3 <= len(versions) <= 6
    assert [v["iteration"] for v in versions] == list(range(1, len(versions) + 1))
    assert [v["id"] for v in versions] == sorted(v["id"] for v in versions)
    assert all(v["flow_id"] == 1 for v in versions)
    assert all(v["status"] in {"Draft", "Deployed", "Inactive"} for v in versions)


@pytest.mark.parametrize("flow", ["99999", "abc"])
def test_it_answers_404_for_an_unknown_flow(sandbox, flow):
    response = sandbox.api("GET", f"{FLOWS}/{flow}/versions")
    assert response.status_code == 404
    assert_schema(response.json(), "Message")


@pytest.mark.parametrize("path", [ENVIRONMENTS, PACKAGES, FLOWS, f"{FLOWS}/1/versions"])
def test_pickers_require_a_key(sandbox, path):
    response = sandbox.api("GET", path, key=None)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}


@pytest.mark.parametrize("path", [ENVIRONMENTS, PACKAGES, FLOWS])
def test_pickers_reject_unknown_filters_and_bad_pages(sandbox, path):
    assert sandbox.api("GET", path, params={"filter[colour]": "red"}).status_code == 400
    assert sandbox.api("GET", path, params={"per_page": 101}).status_code == 422


def test_environments_accept_the_published_filters(sandbox):
    live = sandbox.api("GET", ENVIRONMENTS, params={"filter[type]": "live"}).json()["data"]
    assert live and {env["type"] for env in live} == {"live"}
    params = {
        "filter[status]": "active",
        "filter[labelled]": "0",
        "filter[hasDeployedVersion]": "1",
    }
    running = sandbox.api("GET", ENVIRONMENTS, params=params)
    assert running.status_code == 200
    idle = sandbox.api("GET", ENVIRONMENTS, params={"filter[hasDeployedVersion]": "0"}).json()
    running_ids = {env["id"] for env in running.json()["data"]}
    assert running_ids and not running_ids & {env["id"] for env in idle["data"]}


@pytest.mark.parametrize("path", [PACKAGES, FLOWS])
def test_other_pickers_refuse_the_environment_filters(sandbox, path):
    assert sandbox.api("GET", path, params={"filter[type]": "live"}).status_code == 400
