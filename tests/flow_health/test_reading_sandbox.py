"""Health for a real page of deployments, over HTTP against the sandbox, in every shape."""

from __future__ import annotations

import pytest

from deployments_ui.flow_health import NOT_READABLE, Kind, describe, explain, read_board
from deployments_ui.patchworks import PatchworksClient, reset_session


@pytest.fixture
def client(sandbox, settings):
    settings.PATCHWORKS_BASE_URL = sandbox.url
    settings.PATCHWORKS_GET_RETRIES = 0
    settings.CONSOLE_FLOW_HEALTH_ENABLED = True
    settings.CONSOLE_FLOW_HEALTH_HOURS = 24
    settings.CONSOLE_FLOW_HEALTH_RUNS = 100
    reset_session()
    yield PatchworksClient("sandbox-demo-key")
    reset_session()


def test_a_page_of_deployments_gets_health_from_one_more_request(client, shaped_sandbox):
    deployments = client.list_deployments(per_page=100).items
    shaped_sandbox.clear_requests()
    board = read_board(client, deployments)
    assert [entry["path"] for entry in shaped_sandbox.requests()] == ["/api/v1/flow-runs"]
    assert board.readable and set(board.rows) == {d.id for d in deployments}
    kinds = {health.kind for health in board.rows.values()}
    assert Kind.NOT_RUN in kinds and (kinds & {Kind.FINE, Kind.FAILING})
    for deployment in deployments:
        health = board.get(deployment.id)
        assert describe(health) and explain(health, None) == describe(health)
        if not deployment.is_enabled:
            assert health.kind == Kind.NOT_RUN
    shared = shaped_sandbox.shape() not in {"flat-camel", "bodyless-writes"}
    assert any(h.shared for h in board.rows.values()) is shared


def test_runs_not_readable_on_the_sandbox_give_one_notice(client, sandbox):
    sandbox.set_faults(error_status=404, path_contains="/flow-runs")
    deployments = client.list_deployments(per_page=10).items
    board = read_board(client, deployments)
    assert not board.readable and board.notice == NOT_READABLE and not board.rows
