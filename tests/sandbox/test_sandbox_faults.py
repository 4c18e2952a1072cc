"""Fault injection: stored (/__sandbox__/faults) and per request (X-Sandbox-Fault)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.sandbox.helpers import DEPLOYMENTS, assert_schema, deployment_url, first_deployment

FLOWS = "/api/v1/flows"


def timed_get(sandbox, path=FLOWS, **kwargs) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = sandbox.api("GET", path, params={"per_page": 1}, **kwargs)
    return response, time.perf_counter() - started


def test_it_adds_latency(sandbox):
    sandbox.set_faults(latency_ms=400)
    response, took = timed_get(sandbox)
    assert response.status_code == 200
    assert took >= 0.4
    (entry,) = sandbox.requests()
    assert entry["duration_ms"] >= 400
    assert entry["fault"] == "latency_ms=400"


def test_it_answers_the_error_status_every_time_at_rate_1(sandbox):
    sandbox.set_faults(error_status=503)
    for _ in range(3):
        response = sandbox.api("GET", FLOWS)
        assert response.status_code == 503
        assert_schema(response.json(), "Message")


def test_it_never_errors_at_rate_0(sandbox):
    sandbox.set_faults(error_status=500, error_rate=0)
    assert all(sandbox.api("GET", FLOWS).status_code == 200 for _ in range(5))


def test_it_errors_for_some_requests_at_a_partial_rate(sandbox):
    sandbox.set_faults(error_status=502, error_rate=0.5)
    statuses = {sandbox.api("GET", FLOWS, params={"per_page": 1}).status_code for _ in range(30)}
    assert statuses == {200, 502}


def test_it_does_not_run_the_view_when_it_answers_an_error(sandbox):
    d = first_deployment(sandbox, sort="-enabled_at")
    sandbox.set_faults(error_status=500)
    assert sandbox.api("POST", deployment_url(d, "/disable")).status_code == 500
    sandbox.clear_faults()
    assert sandbox.api("GET", deployment_url(d)).json()["data"]["enabled_at"] is not None


def test_it_rate_limits_with_retry_after(sandbox):
    sandbox.set_faults(retry_after=7)
    response = sandbox.api("GET", DEPLOYMENTS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"message": "Too Many Attempts."}


def test_it_hangs_past_a_short_client_timeout(sandbox):
    sandbox.set_faults(hang_seconds=1.5)
    with pytest.raises(requests.Timeout):
        sandbox.api("GET", FLOWS, timeout=0.3)


def test_a_hanging_request_still_answers_in_the_end(sandbox):
    response, took = timed_get(sandbox, headers={"X-Sandbox-Fault": "hang_seconds=0.5"})
    assert response.status_code == 200
    assert took >= 0.5


def test_it_answers_a_malformed_body(sandbox):
    sandbox.set_faults(malformed=True)
    response = sandbox.api("GET", DEPLOYMENTS)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_it_restricts_faults_to_methods(sandbox):
    d = first_deployment(sandbox, sort="-enabled_at")
    sandbox.set_faults(error_status=503, methods=["post"])
    assert sandbox.api("GET", deployment_url(d)).status_code == 200
    assert sandbox.api("POST", deployment_url(d, "/disable")).status_code == 503


def test_it_restricts_faults_to_paths_containing_a_substring(sandbox):
    sandbox.set_faults(error_status=500, path_contains="/flows")
    assert sandbox.api("GET", DEPLOYMENTS).status_code == 200
    assert sandbox.api("GET", FLOWS).status_code == 500


def test_it_applies_a_counted_fault_to_the_next_requests_only(sandbox):
    sandbox.set_faults(error_status=503, count=2, methods=["GET"])
    statuses = [sandbox.api("GET", FLOWS).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert sandbox.faults()["count"] == 0


def test_requests_that_do_not_match_do_not_use_up_the_count(sandbox):
    sandbox.set_faults(error_status=503, count=1, path_contains="/flows")
    assert sandbox.api("GET", DEPLOYMENTS).status_code == 200
    assert sandbox.api("GET", FLOWS).status_code == 503
    assert sandbox.api("GET", FLOWS).status_code == 200


def test_it_takes_faults_from_the_header(sandbox):
    response = sandbox.api("GET", FLOWS, headers={"X-Sandbox-Fault": "error_status=502"})
    assert response.status_code == 502
    response, took = timed_get(
        sandbox, headers={"X-Sandbox-Fault": "latency_ms=300; retry_after=3"}
    )
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert took >= 0.3


def test_the_header_wins_over_the_stored_fault(sandbox):
    sandbox.set_faults(error_status=503)
    response = sandbox.api("GET", FLOWS, headers={"X-Sandbox-Fault": "latency_ms=1"})
    assert response.status_code == 200


def test_the_header_honours_methods_and_path(sandbox):
    header = {"X-Sandbox-Fault": "error_status=500; methods=POST,PUT; path_contains=/enable"}
    assert sandbox.api("GET", FLOWS, headers=header).status_code == 200


@pytest.mark.parametrize("header", ["error_status", "colour=blue", "count=2", "error_rate=2"])
def test_it_refuses_a_header_it_cannot_read(sandbox, header):
    response = sandbox.api("GET", FLOWS, headers={"X-Sandbox-Fault": header})
    assert response.status_code == 400
    assert "X-Sandbox-Fault" in response.json()["message"]


def test_faults_never_touch_the_control_endpoints(sandbox):
    sandbox.set_faults(error_status=500, latency_ms=6000)
    started = time.perf_counter()
    assert sandbox.faults()["error_status"] == 500
    assert time.perf_counter() - started < 3  # far below the 6 s an API request would take
    sandbox.clear_requests()


def test_the_stored_fault_can_be_read_and_cleared(sandbox):
    stored = sandbox.set_faults(latency_ms=10, methods=["get"], path_contains="/flows")
    assert stored["latency_ms"] == 10 and stored["methods"] == ["GET"]
    assert sandbox.faults() == stored
    sandbox.clear_faults()
    assert sandbox.faults() is None


@pytest.mark.parametrize(
    "fields",
    [
        {"colour": "blue"},
        {"error_rate": 1.5},
        {"error_status": 200},
        {"count": 0},
        {"latency_ms": 10**30},
        {"methods": [1]},
    ],
)
def test_it_refuses_a_fault_it_cannot_read(sandbox, fields):
    response = requests.put(f"{sandbox.url}/__sandbox__/faults", json=fields, timeout=5)
    assert response.status_code == 400


def test_the_request_log_shows_faults(sandbox):
    sandbox.api("GET", FLOWS, headers={"X-Sandbox-Fault": "error_status=503"})
    (entry,) = sandbox.requests()
    assert entry["status"] == 503
    assert entry["fault"] == "error_status=503"
