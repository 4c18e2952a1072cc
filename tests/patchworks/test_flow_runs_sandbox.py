"""The client's flow runs, run logs and the refused enable, over real HTTP against the sandbox,
in every response shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from deployments_ui.patchworks import (
    ALLOWANCE,
    FAILED_STATUS,
    AllowanceUsedUp,
    NotFound,
    PatchworksClient,
    reset_session,
)
from tests.sandbox.helpers import disabled_one

KEY = "sandbox-demo-key"


@pytest.fixture
def client(sandbox, settings):
    settings.PATCHWORKS_BASE_URL = sandbox.url
    settings.PATCHWORKS_GET_RETRIES = 0
    reset_session()
    yield PatchworksClient(KEY)
    reset_session()


@pytest.fixture
def allowance_used_up(sandbox):
    """The sandbox's allowance set to the number of deployments already enabled."""
    url = f"{sandbox.url}/__sandbox__/allowance"
    enabled = requests.get(url, timeout=10).json()["data"]["enabled"]
    requests.put(url, json={"max_enabled": enabled}, timeout=10).raise_for_status()
    yield enabled
    requests.delete(url, timeout=10).raise_for_status()


def test_runs_read_in_every_shape(client, shaped_sandbox):
    since = datetime.now(UTC) - timedelta(hours=6)
    page = client.list_flow_runs(started_after=since, include=["flow"])
    assert len(page.items) == 100 and page.has_next
    assert all(run.flow_version_id and run.flow_id and run.started_at for run in page.items)
    assert all(run.started_at >= since for run in page.items)  # type: ignore[operator]
    starts = [run.started_at for run in page.items]
    assert starts == sorted(starts, reverse=True)  # type: ignore[type-var]
    assert {run.status for run in page.items} <= {"running", "succeeded", "failed"}
    names = shaped_sandbox.shape() in {"flat-camel", "bodyless-writes"}
    assert all(run.names_environment is names for run in page.items)


def test_failed_runs_and_their_logs_in_every_shape(client, shaped_sandbox):
    failed = client.list_flow_runs(statuses=[FAILED_STATUS], per_page=5).items
    assert failed and all(run.is_failed and run.finished_at for run in failed)
    logs = client.flow_run_logs(failed[0].id).items
    errors = [line for line in logs if line.is_error]
    assert len(errors) == 1 and errors[0].message and errors[0].flow_step_id


def test_logs_of_a_run_not_kept_are_not_found(client, sandbox):
    with pytest.raises(NotFound, match="7 days"):
        client.flow_run_logs("999999999999")


@pytest.mark.parametrize("status", [403, 404])
def test_runs_that_cannot_be_read(client, sandbox, status):
    sandbox.set_faults(error_status=status, path_contains="/flow-runs")
    with pytest.raises(Exception) as caught:
        client.list_flow_runs()
    assert getattr(caught.value, "status", None) == status


def test_an_enable_past_the_allowance_is_told_plainly_in_every_shape(
    client, shaped_sandbox, allowance_used_up
):
    shape = shaped_sandbox.shape()
    shaped_sandbox.set_shape(None)  # the helper reads the default shape
    deployment = disabled_one(shaped_sandbox)
    shaped_sandbox.set_shape(shape)
    with pytest.raises(AllowanceUsedUp) as caught:
        client.enable_deployment(str(deployment["flow_version_id"]), str(deployment["id"]))
    message = caught.value.message
    assert message.startswith(ALLOWANCE)
    assert f"Your plan allows {allowance_used_up} active flows." in message
    after = client.get_deployment(str(deployment["flow_version_id"]), str(deployment["id"]))
    assert not after.is_enabled
