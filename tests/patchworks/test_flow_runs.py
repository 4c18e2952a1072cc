"""The client's flow runs and run logs against canned HTTP answers (`responses`): the request
it sends, tolerant parsing in every shape, and a refused enable read as the plan's allowance."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from deployments_ui.patchworks import (
    ALLOWANCE,
    AllowanceUsedUp,
    Forbidden,
    NotFound,
    PatchworksClient,
    ValidationFailed,
    reset_session,
)
from deployments_ui.patchworks.runs import FAILED, RUNNING, SUCCEEDED, UNKNOWN

KEY = "pw-test-KEY-7f3e9c21d4b8a6"
BASE = "https://patchworks.test"
API = f"{BASE}/api/v1"
RUNS = f"{API}/flow-runs"
ENABLE = f"{API}/flow-versions/11/deployments/42/enable"


@pytest.fixture(autouse=True)
def patchworks_settings(settings):
    settings.PATCHWORKS_BASE_URL = BASE
    settings.PATCHWORKS_GET_RETRIES = 0
    reset_session()
    yield settings
    reset_session()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return PatchworksClient(KEY)


def query_of(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def envelope(items, **extra):
    meta = {"current_page": 1, "last_page": 1, "per_page": 100, "total": len(items)}
    return {"data": items, "links": {"next": None}, "meta": meta, **extra}


FLAT_RUN = {
    "id": 7,
    "status": 3,
    "started_at": "2026-12-07T14:02:00.000000Z",
    "finished_at": "2026-12-07T14:03:10.000000Z",
    "flow_id": 4,
    "flow_version_id": 11,
    "virtual_environment_id": 2,
}
JSONAPI_RUN = {
    "type": "flow-runs",
    "id": "7",
    "attributes": {
        "status": 3,
        "started_at": "2026-12-07T14:02:00.000000Z",
        "finished_at": "2026-12-07T14:03:10.000000Z",
        "flow_id": 4,
        "flow_version_id": 11,
    },
    "relationships": {"flowVersion": {"data": {"type": "flow-versions", "id": "11"}}},
}


def test_list_flow_runs_sends_the_published_parameters(rsps, client):
    rsps.get(RUNS, json=envelope([]))
    since = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    client.list_flow_runs(started_after=since, statuses=[3], include=["flow"], per_page=50)
    query = query_of(rsps.calls[0])
    assert query == {
        "sort": "-started_at",
        "page": "1",
        "per_page": "50",
        "include": "flow",
        "filter[status]": "3",
        "filter[started_after]": str(int(since.timestamp() * 1000)),
    }
    assert rsps.calls[0].request.headers["Authorization"] == KEY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sort": "-finished_at"},
        {"include": ["user"]},
        {"started_after": datetime(2026, 12, 7, 12, 0)},  # naive: which zone?
    ],
)
def test_list_flow_runs_refuses_what_patchworks_does_not_publish(rsps, client, kwargs):
    with pytest.raises(ValueError):
        client.list_flow_runs(**kwargs)
    assert not rsps.calls


@pytest.mark.parametrize("item", [FLAT_RUN, JSONAPI_RUN], ids=["flat", "jsonapi"])
def test_runs_read_in_either_shape(rsps, client, item):
    rsps.get(RUNS, json=envelope([item]))
    (run,) = client.list_flow_runs().items
    assert run.id == "7" and run.flow_version_id == "11" and run.flow_id == "4"
    assert run.is_failed and run.status == FAILED
    assert run.started_at == datetime(2026, 12, 7, 14, 2, tzinfo=UTC)
    assert run.names_environment is (item is FLAT_RUN)
    assert run.virtual_environment_id == ("2" if item is FLAT_RUN else None)


def test_a_run_of_the_global_deployment_names_no_environment_but_says_so(rsps, client):
    rsps.get(RUNS, json=envelope([{**FLAT_RUN, "virtual_environment_id": None}]))
    (run,) = client.list_flow_runs().items
    assert run.names_environment and run.virtual_environment_id is None


def test_the_version_may_come_only_as_a_relationship(rsps, client):
    attributes = {k: v for k, v in JSONAPI_RUN["attributes"].items() if k != "flow_version_id"}
    rsps.get(RUNS, json=envelope([{**JSONAPI_RUN, "attributes": attributes}]))
    assert client.list_flow_runs().items[0].flow_version_id == "11"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (1, RUNNING),
        (2, SUCCEEDED),
        (3, FAILED),
        ("3", FAILED),
        ("failed", FAILED),
        ("Success", SUCCEEDED),
        ("completed", SUCCEEDED),
        ("in_progress", RUNNING),
        (9, UNKNOWN),
        ("exploded", UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_statuses_are_read_from_numbers_or_words(rsps, client, raw, status):
    rsps.get(RUNS, json=envelope([{**FLAT_RUN, "status": raw}]))
    assert client.list_flow_runs().items[0].status == status


def test_a_bare_list_and_an_item_without_an_id_are_tolerated(rsps, client):
    rsps.get(RUNS, json=[FLAT_RUN, {"status": 2}])
    page = client.list_flow_runs()
    assert [run.id for run in page.items] == ["7"]


@pytest.mark.parametrize("status", [403, 404])
def test_runs_that_cannot_be_read_raise_forbidden_or_not_found(rsps, client, status):
    rsps.get(RUNS, json={"message": "nope"}, status=status)
    with pytest.raises((Forbidden, NotFound)) as caught:
        client.list_flow_runs()
    assert caught.value.status == status


def test_run_logs_read_levels_messages_and_steps(rsps, client):
    lines = [
        {"id": 1, "log_level": "info", "log_message": "Flow run started.", "flow_step_id": None},
        {
            "type": "flow-run-logs",
            "id": "2",
            "attributes": {
                "log_level": 400,
                "log_message": "Shopify answered\n401 Unauthorized.",
                "flow_step_id": 1102,
            },
        },
    ]
    rsps.get(f"{RUNS}/7/flow-run-logs", json=envelope(lines))
    first, second = client.flow_run_logs("7").items
    assert first.level == "info" and not first.is_error and first.flow_step_id is None
    assert second.is_error and second.level == "error" and second.flow_step_id == "1102"
    assert second.message == "Shopify answered 401 Unauthorized."


def test_logs_of_a_run_no_longer_kept_say_so(rsps, client):
    rsps.get(f"{RUNS}/7/flow-run-logs", json={"message": "No query results"}, status=404)
    with pytest.raises(NotFound, match="Patchworks keeps them for 7 days"):
        client.flow_run_logs("7")
    with pytest.raises(NotFound):
        client.flow_run_logs("../deployments")
    assert len(rsps.calls) == 1


# A refused enable: the plan's allowance ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"message": "Your plan allows 60 active flows."}),
        (
            422,
            {
                "message": "The given data was invalid.",
                "errors": {"enabled_at": ["Upgrade your tier to enable more flows."]},
            },
        ),
        (
            409,
            {
                "errors": [
                    {
                        "status": "409",
                        "detail": "Connector allowance exceeded for your subscription.",
                    }
                ]
            },
        ),
        (402, {}),
    ],
)
def test_a_refused_enable_that_speaks_of_the_plan_is_the_allowance(rsps, client, status, body):
    rsps.post(ENABLE, json=body, status=status)
    with pytest.raises(AllowanceUsedUp) as caught:
        client.enable_deployment("11", "42")
    error = caught.value
    assert error.message.startswith(ALLOWANCE)
    assert ALLOWANCE == "Patchworks refused: your plan's allowance of running flows may be used up."
    assert "Nothing was changed." in error.message
    assert error.status == status and not error.outcome_unknown
    assert KEY not in error.message


def test_the_allowance_message_quotes_patchworks_words(rsps, client):
    rsps.post(ENABLE, json={"message": "Your plan allows 60 active flows."}, status=403)
    with pytest.raises(
        AllowanceUsedUp, match=re.escape("Patchworks said: “Your plan allows 60 active flows.”")
    ):
        client.enable_deployment("11", "42")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (403, {"message": "This action is unauthorized."}, Forbidden),
        (403, {}, Forbidden),
        (
            422,
            {
                "message": "Invalid.",
                "errors": {"priority": ["The priority field must be between 1 and 5."]},
            },
            ValidationFailed,
        ),
    ],
)
def test_other_refusals_are_not_mistaken_for_the_allowance(rsps, client, status, body, expected):
    rsps.post(ENABLE, json=body, status=status)
    with pytest.raises(expected) as caught:
        client.enable_deployment("11", "42")
    assert not isinstance(caught.value, AllowanceUsedUp)


def test_a_read_that_speaks_of_the_plan_is_not_a_refused_enable(rsps, client):
    rsps.get(RUNS, json={"message": "Flow runs are not part of your plan."}, status=403)
    with pytest.raises(Forbidden) as caught:
        client.list_flow_runs()
    assert not isinstance(caught.value, AllowanceUsedUp)
