"""check_patchworks against the sandbox in each response shape: reads only, names the shape,
lists what the console needs and did not find."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from deployments_ui.patchworks import reset_session
from tests.sandbox_fixtures import SHAPES

pytestmark = pytest.mark.django_db

EXPECTED_SHAPE = {
    "flat-camel": "flat-camel",
    "bodyless-writes": "flat-camel",
    "flat-snake": "flat-snake",
    "jsonapi": "jsonapi with included[]",
}
# What each shape leaves out, and so what the command must list.
MISSING = {
    "flat-camel": [],
    "bodyless-writes": [],
    "flat-snake": ["deployment: flow name", "flow versions: iteration"],
    "jsonapi": [
        "deployment: flow name",
        "deployment: version number",
        "flow versions: iteration",
    ],
}
EVERY_FINDING = ("deployment: flow name", "deployment: version number", "flow versions: iteration")


@pytest.fixture
def service_key(settings, on_sandbox):
    settings.CONSOLE_SERVICE_API_KEY = "sandbox-key-service"
    reset_session()
    yield
    reset_session()


def run(*args: str) -> str:
    out = StringIO()
    call_command("check_patchworks", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("shape", SHAPES)
def test_it_names_the_shape_and_what_is_missing_with_six_reads(service_key, on_sandbox, shape):
    on_sandbox.set_shape(shape)
    on_sandbox.clear_requests()
    output = run()
    assert f"Response shape: {EXPECTED_SHAPE[shape]}\n" in output
    for finding in MISSING[shape]:
        assert f"missing  {finding}" in output
    for finding in set(EVERY_FINDING) - set(MISSING[shape]):
        assert finding not in output
    assert "MISSING" not in output  # the console can make up for everything in these shapes
    assert "The console can work with these answers." in output
    requests = on_sandbox.requests()
    assert [entry["method"] for entry in requests] == ["GET"] * 6
    assert requests[-2]["path"].endswith("/versions")
    assert requests[-1]["path"] == "/api/v1/flow-runs"
    assert "Flow runs: readable\n" in output
    assert all(entry["user"] == "Console Service" for entry in requests)


def test_it_fails_plainly_with_a_rejected_key(settings, on_sandbox):
    settings.CONSOLE_SERVICE_API_KEY = "not-a-key"
    with pytest.raises(CommandError) as caught:
        run()
    assert caught.value.returncode == 1


def test_it_can_use_a_persons_saved_key(editor, on_sandbox):
    on_sandbox.clear_requests()
    assert "Response shape: flat-camel" in run("--user", "edie")
    assert {entry["user"] for entry in on_sandbox.requests()} == {"Edie Editor"}


def test_it_refuses_without_any_key(settings, db):
    settings.CONSOLE_SERVICE_API_KEY = ""
    with pytest.raises(CommandError, match="No key"):
        run()


@pytest.mark.parametrize("status", [403, 404])
def test_runs_that_cannot_be_read_are_reported_plainly_and_do_not_block(
    service_key, on_sandbox, status
):
    on_sandbox.set_faults(error_status=status, path_contains="/flow-runs")
    output = run()
    assert "Flow runs: not readable\n" in output
    assert f"missing  flow runs: not readable (Patchworks answered {status})" in output
    assert "The console can work with these answers." in output


def test_runs_failing_for_now_are_reported_without_blocking(service_key, on_sandbox):
    on_sandbox.set_faults(error_status=500, path_contains="/flow-runs")
    output = run()
    assert "Flow runs: not readable\n" in output
    assert "missing  flow runs: could not be read (Patchworks is not answering" in output
