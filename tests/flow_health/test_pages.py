"""Flow health on the pages, against the sandbox: the rows' marks, the detail page's runs, the
one Admin notice when runs cannot be read, and the snapshot kept with a change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui.flow_health import Health, HealthBoard, Kind, LastChange, RunCounts
from deployments_ui.flow_health.reading import NOT_READABLE
from deployments_ui.models import AuditEvent
from deployments_ui.presenters import with_health
from tests.deployments import deployment_url, find_deployment, sandbox_deployments

RUNS = "/api/v1/flow-runs"


@pytest.fixture
def as_operator(client, operator, on_sandbox, settings):
    settings.CONSOLE_FLOW_HEALTH_ENABLED = True
    client.force_login(operator)
    return client


def marks(html: str) -> dict[str, tuple[str, str]]:
    """Each row's health mark, by deployment id: its kind and its words."""
    found = {}
    for ident, kind, text in re.findall(
        r'<tr id="deployment-row-(\w+)".*?<span class="health health-([\w-]+)">'
        r'<span aria-hidden="true">.</span> <span class="visually-hidden">Flow health: </span>'
        r"([^<]*)</span>",
        html,
        re.S,
    ):
        found[ident] = (kind, text)
    return found


def test_every_row_has_a_mark_from_one_runs_request(as_operator, on_sandbox):
    on_sandbox.clear_requests()
    html = as_operator.get("/deployments/?per_page=100").content.decode()
    paths = [entry["path"] for entry in on_sandbox.requests()]
    assert paths.count(RUNS) == 1 and not [p for p in paths if "flow-run-logs" in p]
    shown = marks(html)
    rows = re.findall(r'<tr id="deployment-row-(\w+)"', html)
    assert rows and set(shown) == set(rows)
    kinds = {kind for kind, _ in shown.values()}
    assert "not-run" in kinds and kinds & {"fine", "failing"}
    texts = {text for _, text in shown.values()}
    assert any(t.startswith("Failing since") or t == "Running fine" for t in texts)
    assert any(t.startswith("Not run") for t in texts)


def test_a_row_disabled_in_the_console_says_who_and_why(as_operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    as_operator.get("/deployments/?per_page=100")  # the page the change is made from
    response = as_operator.post(
        deployment_url(item, "disable/"), {"reason": "supplier outage", "next": "/deployments/"}
    )
    assert response.status_code == 302
    html = as_operator.get(f"/flow-versions/{item['flow_version_id']}/deployments/").content
    kind, text = marks(html.decode())[str(item["id"])]
    assert kind == "not-run"
    assert text.startswith("Not run since Oscar Operator disabled it ")
    assert text.endswith("ago: supplier outage") or "just now: supplier outage" in text


def test_the_swapped_row_after_a_disable_says_it_without_another_read(as_operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    as_operator.get("/deployments/?per_page=100")
    on_sandbox.clear_requests()
    response = as_operator.post(
        deployment_url(item, "disable/"),
        {"reason": "supplier outage", "fragment": "row", "confirmed": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert RUNS not in [entry["path"] for entry in on_sandbox.requests()]
    kind, text = marks(response.content.decode())[str(item["id"])]
    assert (kind, text) == (
        "not-run",
        "Not run since Oscar Operator disabled it just now: supplier outage",
    )


def test_a_row_swapped_in_without_runs_read_has_no_mark(as_operator, on_sandbox):
    on_sandbox.set_faults(error_status=404, path_contains="/flow-runs")
    item = find_deployment(on_sandbox, enabled=True, live=False)
    as_operator.get("/deployments/?per_page=100")
    response = as_operator.post(
        deployment_url(item, "disable/"),
        {"reason": "supplier outage", "fragment": "row", "confirmed": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "○ Disabled" in response.content.decode()
    assert 'class="health' not in response.content.decode()


def test_runs_not_readable_mean_no_marks_and_one_notice_for_admins(
    client, operator, admin_user, on_sandbox
):
    on_sandbox.set_faults(error_status=403, path_contains="/flow-runs")
    client.force_login(operator)
    html = client.get("/deployments/").content.decode()
    assert 'class="health' not in html and NOT_READABLE not in html
    assert "deployment-row-" in html
    client.force_login(admin_user)
    html = client.get("/deployments/").content.decode()
    assert 'class="health' not in html and html.count(NOT_READABLE) == 1


def test_the_detail_page_shows_the_latest_runs_and_the_failing_step(as_operator, on_sandbox):
    failing = on_sandbox.api("GET", RUNS, params={"filter[status]": "3", "per_page": 100})
    versions = {str(run["flow_version_id"]) for run in failing.json()["data"]}
    page = as_operator.get("/deployments/?per_page=100").content.decode()
    shown = marks(page)
    ident = next(i for i, (kind, _) in shown.items() if kind == "failing")
    link = re.search(rf'href="(/flow-versions/(\d+)/deployments/{ident}/)"', page)
    assert link and link.group(2) in versions
    html = as_operator.get(link.group(1)).content.decode()
    assert "How its flow is running" in html and "Failing since" in html
    assert "Latest runs" in html and "Failed" in html
    message = re.search(
        r'The first step that failed said: <q class="failure-message">([^<]+)</q>', html
    )
    assert message and len(message.group(1)) > 10
    assert re.search(r"<td>\d+ minutes?</td>|<td>less than a minute</td>", html)


def test_a_mark_ties_failures_to_the_change_just_before_them(rf, operator):
    now = timezone.now()
    failing = Health(
        "7", Kind.FAILING, now - timedelta(minutes=30), RunCounts(3, 3), None, None, True
    )
    change = LastChange("Bob Jones", "changed its priority", now - timedelta(minutes=33))
    row = {"id": "7", "last_change": {"change": change}}
    [shown] = with_health([row], HealthBoard(rows={"7": failing}))
    assert shown["health"]["kind"] == "failing"
    assert shown["health"]["text"].endswith(", 3 minutes after Bob Jones changed its priority")
    assert with_health([{"id": "8"}], HealthBoard(rows={"7": failing}))[0]["health"] is None


# Kept beyond Patchworks' 7 days


def running_test_deployment(client, sandbox) -> dict:
    """A deployment in a test environment whose row shows it has been running."""
    shown = marks(client.get("/deployments/?per_page=100").content.decode())
    for item in sandbox_deployments(sandbox, "filter[global]=0"):
        environment = item.get("virtualEnvironment") or {}
        kind = shown.get(str(item["id"]), ("", ""))[0]
        if environment.get("type") == "test" and kind in ("fine", "failing"):
            return item
    raise AssertionError("no test deployment has run lately")


def test_a_change_keeps_the_flows_health_after_the_runs_are_gone(as_operator, on_sandbox):
    item = running_test_deployment(as_operator, on_sandbox)
    as_operator.post(deployment_url(item, "disable/"), {"reason": "supplier outage"})
    attempt = AuditEvent.objects.get(action="disable", outcome="pending", reason="supplier outage")
    kept = attempt.after["flow_health"]
    assert kept["readable"] and kept["runs"] > 0 and kept["last_run"]["started_at"]

    on_sandbox.set_runs_clock(8)  # a week and a day later, by Patchworks' runs
    gone = on_sandbox.api("GET", RUNS, params={"per_page": 100}).json()
    assert all(str(run["id"]) != kept["last_run"]["id"] for run in gone["data"])
    assert (
        on_sandbox.api("GET", f"{RUNS}/{kept['last_run']['id']}/flow-run-logs").status_code == 404
    )

    on_sandbox.clear_requests()
    html = as_operator.get(f"/audit/{attempt.pk}/").content.decode()
    assert not on_sandbox.requests()
    assert "How its flow was running at the time" in html
    assert "<dt>Recent runs</dt><dd>" in html and "<dt>Last run</dt><dd>" in html
    assert "{" not in html.split("How its flow was running at the time")[1].split("</section>")[0]
    assert "Flow health</th>" not in html  # not among the values before and after


def test_drift_detection_keeps_the_flows_health_with_an_outside_change(db, on_sandbox, settings):
    from deployments_ui.drift import sync as drift

    settings.CONSOLE_SYNC_MIN_INTERVAL = 0
    drift.sync_deployments(api_key="sandbox-demo-key")
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.api(
        "POST", f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable"
    )
    on_sandbox.clear_requests()
    result = drift.sync_deployments(api_key="sandbox-demo-key")
    assert result.changes == 1
    assert [e["path"] for e in on_sandbox.requests()].count(RUNS) == 1
    event = AuditEvent.objects.get(source="patchworks", action="disable")
    assert event.after["flow_health"]["readable"] and "kind" in event.after["flow_health"]


# The plan's allowance


def test_the_detail_page_shows_the_headroom_patchworks_named(as_operator, on_sandbox, settings):
    from deployments_ui.drift import sync as drift

    enabled = on_sandbox._control("GET", "allowance")["data"]["enabled"]
    on_sandbox._control("PUT", "allowance", json={"max_enabled": enabled})
    item = find_deployment(on_sandbox, enabled=False, live=False)
    assert "Your plan allows" not in as_operator.get(deployment_url(item)).content.decode()

    refused = as_operator.post(deployment_url(item, "enable/"), {"reason": "go live"})
    assert refused.status_code == 302
    html = as_operator.get(deployment_url(item)).content.decode()
    assert f"Your plan allows {enabled} running flows (Patchworks said so just now)." in html

    settings.CONSOLE_SYNC_MIN_INTERVAL = 0
    drift.sync_deployments(api_key="sandbox-demo-key")
    html = as_operator.get(deployment_url(item)).content.decode()
    assert f"{enabled} are enabled as the console last saw them: no room for another." in html
