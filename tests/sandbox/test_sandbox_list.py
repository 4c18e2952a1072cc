"""GET /api/v1/flow-version-deployments: envelope, filters, includes, sorts, pagination."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.sandbox.helpers import (
    ALL_INCLUDES,
    BASE_FIELDS,
    DEPLOYMENTS,
    all_deployments,
    all_pages,
    assert_schema,
    parse_time,
)


def get(sandbox, **params):
    return sandbox.api("GET", DEPLOYMENTS, params=params)


def test_it_lists_deployments_in_the_paginator_envelope(sandbox):
    response = get(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert_schema(body, "DeploymentPage")
    assert len(body["data"]) == 15
    meta = body["meta"]
    assert meta["total"] >= 300
    assert (meta["current_page"], meta["from"], meta["to"], meta["per_page"]) == (1, 1, 15, 15)
    assert meta["last_page"] == -(-meta["total"] // 15)
    assert meta["path"] == f"{sandbox.url}{DEPLOYMENTS}"
    assert body["links"]["prev"] is None
    assert body["links"]["next"] == f"{sandbox.url}{DEPLOYMENTS}?page=2"


def test_it_returns_only_base_fields_without_include(sandbox):
    for deployment in get(sandbox).json()["data"]:
        assert set(deployment) == BASE_FIELDS
        assert deployment["global"] == (deployment["virtual_environment_id"] is None)


def test_it_orders_newest_first_by_default(sandbox):
    items = all_deployments(sandbox)
    keys = [(parse_time(d["created_at"]), d["id"]) for d in items]
    assert keys == sorted(keys, reverse=True)


# --- includes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "include", ["enabledBy", "flowVersion", "virtualEnvironment", "package", "user"]
)
def test_it_includes_each_relation_alone(sandbox, include):
    body = get(sandbox, include=include, per_page=50).json()
    assert_schema(body, "DeploymentPage")
    for deployment in body["data"]:
        assert set(deployment) == BASE_FIELDS | {include}


def test_it_includes_all_relations_with_their_fields(sandbox):
    body = get(sandbox, include=ALL_INCLUDES, per_page=100).json()
    assert_schema(body, "DeploymentPage")
    for d in body["data"]:
        fv = d["flowVersion"]
        assert (fv["id"], fv["iteration"]) == (d["flow_version_id"], d["flow_version_iteration"])
        assert set(fv) == {"id", "flow_id", "iteration", "status", "flow"}
        assert set(fv["flow"]) == {"id", "name", "priority"}
        assert fv["flow"]["name"] == d["name"]
        env = d["virtualEnvironment"]
        assert (env and env["id"]) == (d["virtual_environment_id"] if env else None)
        assert env is None or set(env) == {"id", "name", "type"}
        assert (d["package"] or {}).get("id") == d["package_id"]
        assert (d["enabledBy"] or {}).get("id") == d["enabled_by"]
        assert (d["user"] or {}).get("id") == d["user_id"]
        assert d["enabledBy"] is None or set(d["enabledBy"]) == {"id", "name", "email"}


def test_it_includes_null_relations_for_global_disabled_and_packageless(sandbox):
    items = all_pages(sandbox, DEPLOYMENTS, include=ALL_INCLUDES)
    global_ones = [d for d in items if d["global"]]
    disabled = [d for d in items if d["enabled_at"] is None]
    packageless = [d for d in items if d["package_id"] is None]
    assert global_ones and disabled and packageless
    assert all(d["virtualEnvironment"] is None for d in global_ones)
    assert all(d["enabledBy"] is None and d["enabled_by"] is None for d in disabled)
    assert all(d["package"] is None for d in packageless)


def test_it_rejects_an_unknown_include(sandbox):
    response = get(sandbox, include="flowVersion,owner")
    assert response.status_code == 400
    assert "owner" in response.json()["message"]


# --- filters ---------------------------------------------------------------------------------


def test_it_filters_by_package(sandbox):
    total = get(sandbox).json()["meta"]["total"]
    one = all_deployments(sandbox, **{"filter[package_id]": "1"})
    assert one and {d["package_id"] for d in one} == {1}
    two = all_deployments(sandbox, **{"filter[package_id]": "1,2"})
    assert {d["package_id"] for d in two} == {1, 2}
    assert len(one) < len(two) < total


def test_it_filters_by_virtual_environment(sandbox):
    one = all_deployments(sandbox, **{"filter[virtual_environment_id]": "3"})
    assert one and {d["virtual_environment_id"] for d in one} == {3}
    several = all_deployments(sandbox, **{"filter[virtual_environment_id]": "3,4"})
    assert {d["virtual_environment_id"] for d in several} == {3, 4}


def test_it_filters_by_flow(sandbox):
    one = all_deployments(sandbox, **{"filter[flowVersion.flow]": "2"})
    assert one and {d["flowVersion"]["flow_id"] for d in one} == {2}
    several = all_deployments(sandbox, **{"filter[flowVersion.flow]": "2,5"})
    assert {d["flowVersion"]["flow_id"] for d in several} == {2, 5}


def test_it_filters_by_exact_flow_name(sandbox):
    name = get(sandbox).json()["data"][0]["name"]
    exact = all_deployments(sandbox, **{"filter[name]": name})
    assert exact and {d["name"] for d in exact} == {name}
    assert get(sandbox, **{"filter[name]": name[:-2]}).json()["meta"]["total"] == 0
    other = next(d["name"] for d in all_deployments(sandbox) if d["name"] != name)
    both = all_deployments(sandbox, **{"filter[name]": f"{name},{other}"})
    assert {d["name"] for d in both} == {name, other}


@pytest.mark.parametrize(
    "value,is_global", [("1", True), ("true", True), ("0", False), ("false", False)]
)
def test_it_filters_global_deployments(sandbox, value, is_global):
    items = all_deployments(sandbox, **{"filter[global]": value})
    assert items and all(d["global"] is is_global for d in items)
    assert all((d["virtual_environment_id"] is None) is is_global for d in items)


def test_it_rejects_a_global_filter_that_is_not_boolean(sandbox):
    assert get(sandbox, **{"filter[global]": "maybe"}).status_code == 400


def test_it_filters_by_like_case_insensitively(sandbox):
    items = all_deployments(sandbox, **{"filter[LIKE]": "sHoPiFy"})
    assert items and all("shopify" in d["name"].lower() for d in items)
    everything = all_deployments(sandbox)
    assert len(items) == sum("shopify" in d["name"].lower() for d in everything)


def test_it_combines_filters(sandbox):
    items = all_deployments(
        sandbox, **{"filter[package_id]": "1", "filter[global]": "0", "filter[LIKE]": "order"}
    )
    assert items
    assert all(d["package_id"] == 1 and not d["global"] for d in items)
    assert all("order" in d["name"].lower() for d in items)


@pytest.mark.parametrize("ids", ["abc", "9" * 30, "-1"])
def test_it_matches_nothing_for_ids_that_cannot_exist(sandbox, ids):
    assert get(sandbox, **{"filter[package_id]": ids}).json()["meta"]["total"] == 0


def test_it_ignores_empty_filter_values(sandbox):
    total = get(sandbox).json()["meta"]["total"]
    assert get(sandbox, **{"filter[package_id]": ""}).json()["meta"]["total"] == total


def test_it_rejects_an_unknown_filter(sandbox):
    response = get(sandbox, **{"filter[status]": "enabled"})
    assert response.status_code == 400
    assert "status" in response.json()["message"]


# --- sorts -----------------------------------------------------------------------------------

SORT_KEYS = {
    "created_at": lambda d: parse_time(d["created_at"]),
    "enabled_at": lambda d: d["enabled_at"] and parse_time(d["enabled_at"]),
    "flow_name": lambda d: d["name"],
    "flow_version_iteration": lambda d: d["flow_version_iteration"],
}


@pytest.mark.parametrize("field", SORT_KEYS)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_it_sorts_by_each_field(sandbox, field, descending):
    items = all_deployments(sandbox, sort=f"-{field}" if descending else field)
    key = SORT_KEYS[field]
    present = [d for d in items if key(d) is not None]
    missing = [d for d in items if key(d) is None]
    assert items[: len(present)] == present, "nulls come last"
    values = [key(d) for d in present]
    assert values == sorted(values, reverse=descending)
    if field == "enabled_at":
        assert missing


def test_it_breaks_sort_ties_by_id_so_pages_do_not_overlap(sandbox):
    ids = []
    page = 1
    while True:
        body = get(sandbox, sort="flow_version_iteration", per_page=25, page=page).json()
        ids.extend(d["id"] for d in body["data"])
        if body["links"]["next"] is None:
            break
        page += 1
    assert len(ids) == len(set(ids)) == body["meta"]["total"]


@pytest.mark.parametrize("sort", ["status", "DESC", "flows.name", "-"])
def test_it_rejects_an_unknown_sort(sandbox, sort):
    response = get(sandbox, sort=sort)
    assert response.status_code == 400
    assert_schema(response.json(), "Message")


# --- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 100])
def test_it_accepts_per_page_at_its_bounds(sandbox, per_page):
    body = get(sandbox, per_page=per_page).json()
    assert len(body["data"]) == per_page
    assert body["meta"]["per_page"] == per_page


@pytest.mark.parametrize("per_page", ["0", "101", "-1", "abc", "2.5"])
def test_it_rejects_per_page_out_of_bounds(sandbox, per_page):
    response = get(sandbox, per_page=per_page)
    assert response.status_code == 422
    body = response.json()
    assert_schema(body, "ValidationError")
    assert list(body["errors"]) == ["per_page"]


@pytest.mark.parametrize("page", ["0", "-3", "two"])
def test_it_rejects_a_page_below_one_or_not_a_number(sandbox, page):
    response = get(sandbox, page=page)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["page"]


def test_it_returns_an_empty_page_past_the_last(sandbox):
    first = get(sandbox, per_page=100).json()
    last_page = first["meta"]["last_page"]
    body = get(sandbox, per_page=100, page=last_page + 1).json()
    assert body["data"] == []
    meta = body["meta"]
    assert (meta["from"], meta["to"], meta["total"]) == (None, None, first["meta"]["total"])
    assert meta["current_page"] == last_page + 1
    assert body["links"]["next"] is None
    assert body["links"]["prev"].endswith(f"page={last_page}")


def test_it_returns_the_partial_last_page(sandbox):
    meta = get(sandbox, per_page=100).json()["meta"]
    body = get(sandbox, per_page=100, page=meta["last_page"]).json()
    assert len(body["data"]) == meta["total"] - 100 * (meta["last_page"] - 1)
    assert body["meta"]["to"] == meta["total"]
    assert body["links"]["next"] is None


def test_it_keeps_the_query_string_in_links_except_page(sandbox):
    params = {"filter[package_id]": "1,2", "sort": "-enabled_at", "per_page": 5, "page": 2}
    links = get(sandbox, **params).json()["links"]
    for name, page in [("first", "1"), ("prev", "1"), ("next", "3")]:
        url = urlparse(links[name])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandbox.url}{DEPLOYMENTS}"
        query = parse_qs(url.query)
        assert query == {
            "filter[package_id]": ["1,2"],
            "sort": ["-enabled_at"],
            "per_page": ["5"],
            "page": [page],
        }


def test_it_reports_an_empty_filter_result_as_one_empty_page(sandbox):
    body = get(sandbox, **{"filter[name]": "No such flow"}).json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0
    assert body["meta"]["last_page"] == 1
    assert (body["meta"]["from"], body["meta"]["to"]) == (None, None)
    assert body["links"]["prev"] is None and body["links"]["next"] is None
