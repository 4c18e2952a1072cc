"""Reading health for a page of deployments: one request, graceful absence, the failing step,
and the audit summary; against canned answers (`responses`)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from deployments_ui.flow_health import (
    NOT_READABLE,
    Kind,
    health_of_one,
    read_board,
    run_summary,
)
from deployments_ui.patchworks import PatchworksClient, reset_session
from tests.flow_health.helpers import NOW, disabled, enabled

BASE = "https://patchworks.test"
RUNS = f"{BASE}/api/v1/flow-runs"


@pytest.fixture(autouse=True)
def patchworks_settings(settings):
    settings.PATCHWORKS_BASE_URL = BASE
    settings.PATCHWORKS_GET_RETRIES = 0
    settings.CONSOLE_FLOW_HEALTH_ENABLED = True
    settings.CONSOLE_FLOW_HEALTH_HOURS = 24
    settings.CONSOLE_FLOW_HEALTH_RUNS = 100
    reset_session()
    yield settings
    reset_session()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return PatchworksClient("pw-test-key")


def iso(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def run_json(ident, minutes_ago, status, version=11):
    return {
        "id": ident,
        "status": status,
        "started_at": iso(minutes_ago),
        "finished_at": iso(minutes_ago - 1),
        "flow_id": 7,
        "flow_version_id": version,
    }


def page(items, *, last_page=1):
    meta = {"current_page": 1, "last_page": last_page, "per_page": 100, "total": len(items)}
    return {"data": items, "links": {"next": None}, "meta": meta}


def test_one_request_gives_every_rows_health(rsps, client):
    rsps.get(
        RUNS,
        json=page([run_json(1, 10, 3), run_json(2, 20, 3), run_json(3, 30, 2, version=12)]),
    )
    rows = [enabled(id=1), enabled(id=2, flow_version_id=12), disabled(id=3, flow_version_id=13)]
    board = read_board(client, rows, now=NOW)
    assert len(rsps.calls) == 1
    query = dict(parse_qsl(urlsplit(rsps.calls[0].request.url).query))
    assert query["sort"] == "-started_at" and query["per_page"] == "100"
    since = NOW - timedelta(hours=24)
    assert query["filter[started_after]"] == str(int(since.timestamp() * 1000))
    assert board.readable and board.notice == ""
    assert board.get("1").kind == Kind.FAILING
    assert board.get("2").kind == Kind.FINE
    assert board.get("3").kind == Kind.NOT_RUN
    assert board.get("4") is None


@pytest.mark.parametrize("status", [403, 404])
def test_runs_that_cannot_be_read_give_no_rows_and_one_notice(rsps, client, status):
    rsps.get(RUNS, json={"message": "Not Found"}, status=status)
    board = read_board(client, [enabled()], now=NOW)
    assert not board.readable and board.notice == NOT_READABLE
    assert board.get("42") is None


def test_runs_failing_for_now_give_no_rows_and_say_it_is_for_now(rsps, client):
    rsps.get(RUNS, json={"message": "Server Error"}, status=500)
    board = read_board(client, [enabled()], now=NOW)
    assert board.readable and board.get("42") is None
    assert board.notice.startswith("Flow health could not be read just now: Patchworks is not")


def test_switched_off_it_asks_nothing(rsps, client, settings):
    settings.CONSOLE_FLOW_HEALTH_ENABLED = False
    board = read_board(client, [enabled()], now=NOW)
    assert not rsps.calls and not board.readable and board.notice == ""


def test_one_deployment_failing_gets_its_failing_steps_message(rsps, client):
    rsps.get(RUNS, json=page([run_json(9, 5, 3), run_json(8, 15, 2)]))
    logs = [
        {"id": 1, "log_level": "info", "log_message": "Flow run started.", "flow_step_id": None},
        {"id": 2, "log_level": "error", "log_message": "Token expired.", "flow_step_id": 1102},
    ]
    rsps.get(f"{RUNS}/9/flow-run-logs", json=page(logs))
    health = health_of_one(client, enabled(), now=NOW)
    assert health.kind == Kind.FAILING
    assert health.failure_message == "Token expired." and health.failure_step_id == "1102"
    assert len(rsps.calls) == 2


def test_logs_gone_leave_the_health_without_a_message(rsps, client):
    rsps.get(RUNS, json=page([run_json(9, 5, 3)]))
    rsps.get(f"{RUNS}/9/flow-run-logs", json={"message": "No query results"}, status=404)
    health = health_of_one(client, enabled(), now=NOW)
    assert health.kind == Kind.FAILING and health.failure_message == ""


def test_a_fine_deployment_costs_one_request(rsps, client):
    rsps.get(RUNS, json=page([run_json(9, 5, 2)]))
    assert health_of_one(client, enabled(), now=NOW).kind == Kind.FINE
    assert len(rsps.calls) == 1


def test_the_audit_summary_is_small_and_json_safe(rsps, client):
    rsps.get(RUNS, json=page([run_json(9, 5, 3), run_json(8, 15, 2)]))
    rsps.get(
        f"{RUNS}/9/flow-run-logs",
        json=page([{"id": 2, "log_level": "error", "log_message": "x" * 400}]),
    )
    summary = run_summary(health_of_one(client, enabled(), now=NOW))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["kind"] == "failing" and summary["runs"] == 2 and summary["failed"] == 1
    assert summary["since"] == (NOW - timedelta(minutes=5)).isoformat()
    assert summary["last_failure"] == {
        "id": "9",
        "status": "failed",
        "started_at": (NOW - timedelta(minutes=5)).isoformat(),
    }
    assert len(summary["failure"]) == 200 and "shared" not in summary
    assert len(json.dumps(summary)) < 700


def test_the_audit_summary_without_runs_says_so():
    assert run_summary(None, readable=False) == {"readable": False, "kind": "unknown"}
