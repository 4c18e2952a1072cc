"""The sandbox's flow runs: the list and its filters, a run's logs, every shape, the 7 days
kept, faults, and runs following enables and disables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.helpers import (
    DEPLOYMENTS,
    assert_schema,
    deployment_url,
    disabled_one,
    parse_time,
)

RUNS = "/api/v1/flow-runs"


def logs_url(run_id: object) -> str:
    return f"{RUNS}/{run_id}/flow-run-logs"


def fields(item: dict) -> dict:
    """A run's or log's fields, flat or under JSON:API's attributes."""
    return {"id": item["id"], **item.get("attributes", item)}


def run_page(sandbox, **params) -> dict:
    response = sandbox.api("GET", RUNS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def failed_run(sandbox) -> dict:
    return run_page(sandbox, **{"filter[status]": "3", "per_page": 1})["data"][0]


def test_the_runs_list_matches_the_contract_newest_first(sandbox):
    body = run_page(sandbox, per_page=100)
    assert_schema(body, "FlowRunPage")
    starts = [parse_time(run["started_at"]) for run in body["data"]]
    assert len(starts) == 100 and starts == sorted(starts, reverse=True)
    assert body["meta"]["total"] > 100 and body["links"]["next"].endswith("page=2")
    assert {run["status"] for run in body["data"]} >= {2}


def test_runs_sort_oldest_first_and_are_never_older_than_seven_days(sandbox):
    body = run_page(sandbox, sort="started_at", per_page=20)
    starts = [parse_time(run["started_at"]) for run in body["data"]]
    assert starts == sorted(starts)
    assert starts[0] >= datetime.now(UTC) - timedelta(days=7, minutes=1)
    # Demo deployments enabled weeks ago run still: only their last 7 days are kept.
    assert starts[0] <= datetime.now(UTC) - timedelta(days=6)


def test_filter_status_3_gives_only_failed_runs(sandbox):
    body = run_page(sandbox, **{"filter[status]": "3", "per_page": 100})
    assert body["data"] and {run["status"] for run in body["data"]} == {3}
    assert all(run["finished_at"] for run in body["data"])
    everything = run_page(sandbox, per_page=1)["meta"]["total"]
    assert body["meta"]["total"] < everything


def test_started_after_takes_a_timestamp_or_epoch_milliseconds(sandbox):
    since = datetime.now(UTC) - timedelta(hours=2)
    by_text = run_page(sandbox, **{"filter[started_after]": since.isoformat(), "per_page": 100})
    millis = str(int(since.timestamp() * 1000))
    by_millis = run_page(sandbox, **{"filter[started_after]": millis, "per_page": 100})
    assert by_text["data"]
    assert all(parse_time(run["started_at"]) >= since for run in by_text["data"])
    assert {r["id"] for r in by_text["data"]} == {r["id"] for r in by_millis["data"]}
    fewer = run_page(sandbox, **{"filter[started_after]": since.isoformat()})["meta"]["total"]
    assert fewer < run_page(sandbox)["meta"]["total"]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"filter[started_after]": "yesterday"}, 422, "must be a valid date"),
        ({"filter[flow_id]": "1"}, 400, "Requested filter(s) `flow_id` are not allowed"),
        ({"sort": "-finished_at"}, 400, "Requested sort(s) `-finished_at` is not allowed"),
        ({"include": "user"}, 400, "Requested include(s) `user` are not allowed"),
        ({"per_page": "101"}, 422, "must not be greater than 100"),
    ],
)
def test_bad_parameters_are_refused_as_laravel_would(sandbox, params, status, words):
    response = sandbox.api("GET", RUNS, params=params)
    assert response.status_code == status
    assert words in response.text


def test_runs_need_a_key(sandbox):
    assert sandbox.api("GET", RUNS, key=None).status_code == 401
    assert sandbox.api("GET", logs_url(1), key=None).status_code == 401


def test_pages_follow_laravels_envelope(sandbox):
    # Oldest first from a fixed time: runs starting meanwhile join the end, not page 1.
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    params = {"sort": "started_at", "filter[started_after]": since, "per_page": 5}
    first = run_page(sandbox, **params)
    second = run_page(sandbox, **params, page=2)
    assert second["meta"]["current_page"] == 2 and second["meta"]["from"] == 6
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}
    assert second["links"]["prev"].endswith("page=1")


def test_a_failed_runs_logs_name_the_failing_step(sandbox):
    run = failed_run(sandbox)
    body = sandbox.api("GET", logs_url(run["id"])).json()
    assert_schema(body, "FlowRunLogPage")
    errors = [line for line in body["data"] if line["log_level"] == "error"]
    assert len(errors) == 1 and errors[0]["flow_step_id"] and errors[0]["log_message"]
    assert body["data"][0]["log_message"] == "Flow run started."


def test_logs_of_a_run_that_never_was_are_not_found(sandbox):
    for missing in ("999999999999", "abc", "0"):
        response = sandbox.api("GET", logs_url(missing))
        assert response.status_code == 404
        assert "App\\Models\\FlowRun" in response.json()["message"]


def test_every_shape_answers_runs_and_logs(shaped_sandbox):
    body = run_page(shaped_sandbox, include="flow,flowVersion", per_page=10)
    runs = [fields(item) for item in body["data"]]
    assert runs and all(
        {"status", "started_at", "finished_at", "flow_id", "flow_version_id"} <= set(run)
        for run in runs
    )
    shape = shaped_sandbox.shape()
    with_environment = shape in {"flat-camel", "bodyless-writes"}
    assert all(("virtual_environment_id" in run) == with_environment for run in runs)
    if shape == "jsonapi":
        assert body["data"][0]["type"] == "flow-runs"
        kinds = {resource["type"] for resource in body["included"]}
        assert kinds == {"flows", "flow-versions"}
    else:
        relation = "flow_version" if shape == "flat-snake" else "flowVersion"
        assert runs[0]["flow"]["name"] and runs[0][relation]["id"] == runs[0]["flow_version_id"]
    logs = shaped_sandbox.api("GET", logs_url(runs[0]["id"])).json()["data"]
    assert {"log_level", "log_message", "flow_step_id"} <= set(fields(logs[0]))


def test_jsonapi_errors_for_runs_are_errors_lists(shaped_sandbox):
    response = shaped_sandbox.api("GET", logs_url("999999999999"))
    body = response.json()
    if shaped_sandbox.shape() == "jsonapi":
        assert body["errors"][0]["status"] == "404"
    else:
        assert "message" in body


def test_faults_apply_to_the_runs_endpoints(sandbox):
    sandbox.set_faults(error_status=503, path_contains="/flow-runs", count=1)
    assert sandbox.api("GET", RUNS).status_code == 503
    assert sandbox.api("GET", RUNS).status_code == 200
    response = sandbox.api("GET", RUNS, headers={"X-Sandbox-Fault": "malformed=true"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def _recent_runs(sandbox) -> list[dict]:
    """Every run of the last 4 hours (flat-camel names each run's environment)."""
    since = datetime.now(UTC) - timedelta(hours=4)
    params = {"filter[started_after]": since.isoformat(), "sort": "started_at", "per_page": 100}
    found: list[dict] = []
    page = 1
    while True:
        body = run_page(sandbox, **params, page=page)
        found += body["data"]
        if body["links"]["next"] is None:
            return found
        page += 1


def _of(runs: list[dict], deployment: dict) -> set[int]:
    return {
        run["id"]
        for run in runs
        if run["flow_version_id"] == deployment["flow_version_id"]
        and run["virtual_environment_id"] == deployment["virtual_environment_id"]
    }


def test_an_enabled_deployment_runs_and_a_disabled_one_keeps_its_history(sandbox):
    before = _recent_runs(sandbox)
    listed = sandbox.api("GET", DEPLOYMENTS, params={"per_page": 100}).json()["data"]
    deployment = next(d for d in listed if d["enabled_at"] is None and not _of(before, d))
    three_hours_ago = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    enabled = sandbox.api("PUT", deployment_url(deployment), json={"enabled_at": three_hours_ago})
    assert enabled.status_code == 200, enabled.text
    ran = _of(_recent_runs(sandbox), deployment)
    assert len(ran) >= 3  # at least every hour since it was enabled
    assert sandbox.api("POST", deployment_url(deployment, "/disable")).status_code == 200
    assert _of(_recent_runs(sandbox), deployment) >= ran


def test_runs_of_a_deleted_deployment_are_gone_with_it(sandbox):
    run = fields(failed_run(sandbox))
    deployments = sandbox.api(
        "GET", f"/api/v1/flow-versions/{run['flow_version_id']}/deployments"
    ).json()["data"]
    owner = next(
        d for d in deployments if d["virtual_environment_id"] == run["virtual_environment_id"]
    )
    assert sandbox.api("DELETE", deployment_url(owner)).status_code == 200
    assert sandbox.api("GET", logs_url(run["id"])).status_code == 404


# The allowance of enabled deployments -----------------------------------------------------------


def set_allowance(sandbox, value) -> dict:
    import requests

    response = requests.put(
        f"{sandbox.url}/__sandbox__/allowance", json={"max_enabled": value}, timeout=10
    )
    assert response.status_code in {200, 400}, response.text
    return response.json()


def test_an_enable_past_the_allowance_is_refused(sandbox):
    enabled = set_allowance(sandbox, 0)["data"]["enabled"]
    set_allowance(sandbox, enabled)
    deployment = disabled_one(sandbox)
    refused = sandbox.api("POST", deployment_url(deployment, "/enable"))
    assert refused.status_code == 403
    assert refused.json()["message"].startswith(f"Your plan allows {enabled} active flows.")
    again = sandbox.api("GET", deployment_url(deployment)).json()["data"]
    assert again["enabled_at"] is None
    other = sandbox.api("GET", DEPLOYMENTS, params={"sort": "-enabled_at", "per_page": 1}).json()[
        "data"
    ][0]
    assert sandbox.api("POST", deployment_url(other, "/disable")).status_code == 200
    assert sandbox.api("POST", deployment_url(deployment, "/enable")).status_code == 200


def test_the_allowance_also_holds_for_updates_and_is_undone_by_a_reset(sandbox):
    enabled = set_allowance(sandbox, 0)["data"]["enabled"]
    set_allowance(sandbox, enabled)
    deployment = disabled_one(sandbox)
    now = datetime.now(UTC).isoformat()
    refused = sandbox.api("PUT", deployment_url(deployment), json={"enabled_at": now})
    assert refused.status_code == 403 and "Your plan allows" in refused.text
    assert set_allowance(sandbox, "many")["message"].startswith("max_enabled must be")
    sandbox.reset(if_changed=True)
    assert set_allowance(sandbox, None)["data"]["max_enabled"] is None
    assert sandbox.api("POST", deployment_url(deployment, "/enable")).status_code == 200


def test_the_runs_clock_moves_ahead_and_a_reset_puts_it_back(sandbox):
    newest = run_page(sandbox, per_page=1)["data"][0]
    assert sandbox.api("GET", logs_url(newest["id"])).status_code == 200
    sandbox.set_runs_clock(8)
    assert sandbox.api("GET", logs_url(newest["id"])).status_code == 404
    oldest = run_page(sandbox, sort="started_at", per_page=1)["data"][0]
    assert parse_time(oldest["started_at"]) > datetime.now(UTC) + timedelta(days=1)
    assert sandbox.api("GET", "/__sandbox__/clock").json()["data"] == {"days_ahead": 8}
    sandbox.reset()
    assert sandbox.api("GET", logs_url(newest["id"])).status_code == 200


@pytest.mark.parametrize("days", [-1, 366, "8", True, None])
def test_the_runs_clock_refuses_what_is_not_a_number_of_days(sandbox, days):
    response = sandbox.api("PUT", "/__sandbox__/clock", json={"days_ahead": days})
    assert response.status_code == 400
