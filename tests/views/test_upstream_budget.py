"""Upstream requests per page view and per action, counted by the sandbox.

docs/DESIGN.md, "Budgets": one upstream request per page view, one write per enable/disable.
"""

from __future__ import annotations

import pytest

from tests.deployments import deployment_url, find_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_editor(client, editor, on_sandbox, flow_health_minute):
    client.force_login(editor)
    client.get("/deployments/")  # fills the picker cache, as any earlier page view would
    on_sandbox.clear_requests()
    return client


def calls(sandbox) -> list[str]:
    return [f"{entry['method']} {entry['path']}" for entry in sandbox.requests()]


RUNS = "GET /api/v1/flow-runs"


@pytest.mark.parametrize(
    ("path", "expected", "runs"),
    [
        ("/deployments/?sort=-enabled_at&per_page=100", 1, 0),
        ("{detail}", 1, 1),
        ("{detail}edit/", 1, 0),
        ("{detail}delete/", 1, 0),
        ("/flow-versions/{fv}/deployments/", 1, 0),
        ("/flow-versions/{fv}/deployments/new/", 1, 0),
    ],
)
def test_a_page_view_costs_one_upstream_request(
    as_editor, on_sandbox, flow_health_minute, path, expected, runs
):
    """One request for what the page is about, and with flow health one runs request for all
    its rows (a failing deployment's page also reads that run's log lines); a list's runs
    were read by the page before it, within the same minute."""
    item = find_deployment(on_sandbox, enabled=True)
    on_sandbox.clear_requests()
    url = path.format(detail=deployment_url(item), fv=item["flow_version_id"])
    assert as_editor.get(url).status_code == 200
    made = calls(on_sandbox)
    health = [call for call in made if call.startswith(RUNS)]
    assert len(made) - len(health) == expected, made
    assert [call for call in health if call == RUNS] == [RUNS] * runs, made
    assert len(health) <= runs * 2, made


@pytest.mark.parametrize("enabled", [True, False])
def test_enable_or_disable_is_one_read_and_exactly_one_write(as_editor, on_sandbox, enabled):
    item = find_deployment(on_sandbox, enabled=not enabled)
    on_sandbox.clear_requests()
    action = "enable" if enabled else "disable"
    as_editor.post(deployment_url(item, f"{action}/"), HTTP_HX_REQUEST="true")
    made = calls(on_sandbox)
    assert made[0].startswith("GET ")
    assert made[1:] == [
        f"POST /api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/{action}"
    ]


def test_saving_an_edit_is_one_read_and_one_write(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    form = as_editor.get(deployment_url(item, "edit/")).context["form"]
    on_sandbox.clear_requests()
    data = {name: form[name].value() or "" for name in ("environment", "opened")}
    data["priority"] = "1" if item["priority"] != 1 else "5"
    data["enabled_at"] = form["enabled_at"].value().astimezone().strftime("%Y-%m-%dT%H:%M")
    assert as_editor.post(deployment_url(item, "edit/"), data).status_code == 302
    assert [c.split(" ")[0] for c in calls(on_sandbox)] == ["GET", "PUT"]
