"""Every page journey against every response shape the sandbox can answer in.

Targets are picked, and the truth about them read, while the sandbox answers in its default
(flat-camel) shape, which carries every name; then it switches to the shape under test and the
console must show the same names, numbers, environment types and outcomes. No page may show a
blank name or "not available" where the console could know.
"""

from __future__ import annotations

import re

import pytest

from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import PatchworksClient, ServerError, parse_deployment, parse_one
from tests.deployments import (
    api_writes,
    deployment_url,
    find_deployment,
    sandbox_deployments,
    toast_of,
)
from tests.sandbox_fixtures import READ_ONLY_KEY, SHAPES

pytestmark = pytest.mark.django_db
NOT_AVAILABLE = "not available"


@pytest.fixture(params=SHAPES)
def shape(request) -> str:
    return request.param


@pytest.fixture
def as_editor(client, editor, on_sandbox):
    client.force_login(editor)
    return client


def answer_in(sandbox, shape: str) -> None:
    sandbox.set_shape(shape)
    sandbox.clear_requests()


def state_of(sandbox, item: dict):
    """The deployment as Patchworks holds it now, read with the console's own parser."""
    response = sandbox.api(
        "GET",
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}"
        "?include=flowVersion,virtualEnvironment",
    )
    return parse_one(response.json(), parse_deployment) if response.status_code == 200 else None


def upstream_gets(sandbox) -> int:
    """GETs other than flow health's (one runs read a page; test_upstream_budget counts it)."""
    return len(
        [
            entry
            for entry in sandbox.requests()
            if entry["method"] == "GET" and not entry["path"].startswith("/api/v1/flow-runs")
        ]
    )


def name_cells(html: str) -> list[str]:
    """The text of each list row's first cell (the flow's name, after the bulk checkbox)."""
    row = r'<tr id="deployment-row-\d+">\s*<td>(?:<input [^>]*>)?<a href="[^"]+">([^<]*)</a>'
    return re.findall(row, html)


# Reads ------------------------------------------------------------------------------------------


def test_list_shows_every_name_and_version_then_costs_one_request(as_editor, on_sandbox, shape):
    truth = sandbox_deployments(on_sandbox)
    answer_in(on_sandbox, shape)
    html = as_editor.get("/deployments/?per_page=100").content.decode()
    cells = name_cells(html)
    assert len(cells) == len(truth) == 100
    assert cells == [item["name"] for item in truth]
    for item in truth:
        assert f">version {item['flow_version_iteration']}</a>" in html
    assert NOT_AVAILABLE not in html
    assert "virtual-environments" not in html
    on_sandbox.clear_requests()
    as_editor.get("/deployments/?per_page=100")
    assert upstream_gets(on_sandbox) == 1  # warm cache: the list itself, nothing else


def test_flow_version_list_names_its_flow_and_version(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True)
    answer_in(on_sandbox, shape)
    html = as_editor.get(f"/flow-versions/{item['flow_version_id']}/deployments/").content.decode()
    assert f"<h1>{item['name']} version {item['flow_version_iteration']}</h1>" in html
    assert NOT_AVAILABLE not in html


def test_detail_names_everything_warns_live_and_costs_one_request(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    answer_in(on_sandbox, shape)
    html = as_editor.get(deployment_url(item)).content.decode()
    assert f"<h1>{item['name']} version {item['flow_version_iteration']} in" in html
    assert f"Version {item['flow_version_iteration']}" in html
    assert "a <strong>live</strong> environment" in html
    assert item["virtualEnvironment"]["name"] in html
    assert item["enabledBy"]["name"] in html
    assert "Enabled by (according to Patchworks)" in html
    assert "Enabled through the console" not in html  # enabled in the dashboard, not by us
    assert NOT_AVAILABLE not in html
    on_sandbox.clear_requests()
    as_editor.get(deployment_url(item))
    assert upstream_gets(on_sandbox) == 1


def test_edit_form_names_the_deployment_and_saves(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True)
    answer_in(on_sandbox, shape)
    response = as_editor.get(deployment_url(item, "edit/"))
    html = response.content.decode()
    assert f"<h1>Edit {item['name']} version {item['flow_version_iteration']} in" in html
    form = response.context["form"]
    priority = "1" if item["priority"] != 1 else "5"
    enabled_at = form["enabled_at"].value()
    data = {
        "environment": form["environment"].value(),
        "opened": form["opened"].value(),
        "priority": priority,
        "enabled_at": enabled_at.astimezone().strftime("%Y-%m-%dT%H:%M") if enabled_at else "",
    }
    saved = as_editor.post(deployment_url(item, "edit/"), data)
    assert saved.status_code == 302
    assert state_of(on_sandbox, item).priority == int(priority)
    events = AuditEvent.objects.filter(action="update").order_by("id")
    assert [e.outcome for e in events] == ["pending", "succeeded"]
    assert events[1].after["priority"] == int(priority)
    assert events[0].flow_name == item["name"]


def test_version_picker_numbers_every_version(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True)
    flow_id = item["flowVersion"]["flow_id"]
    count = len(on_sandbox.api("GET", f"/api/v1/flows/{flow_id}/versions").json()["data"])
    answer_in(on_sandbox, shape)
    html = as_editor.get(f"/pickers/flow-versions/?flow={flow_id}").content.decode()
    for number in range(1, count + 1):
        assert f"Version {number}</a>" in html
    assert NOT_AVAILABLE not in html and "Version ?" not in html
    options = as_editor.get(
        f"/pickers/flow-versions/?flow={flow_id}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f"Version {count} (" in options


# Writes -----------------------------------------------------------------------------------------


def global_free(sandbox) -> dict:
    """A deployment whose flow has no global deployment yet: its version can be deployed so."""
    taken = {d["flowVersion"]["flow_id"] for d in sandbox_deployments(sandbox, "filter[global]=1")}
    return next(
        d
        for d in sandbox_deployments(sandbox, "filter[global]=0")
        if d["flowVersion"]["flow_id"] not in taken
    )


def test_create_succeeds_and_shows_what_was_created(as_editor, on_sandbox, shape):
    item = global_free(on_sandbox)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    answer_in(on_sandbox, shape)
    form = as_editor.get(url).content.decode()
    assert f"New deployment of {item['name']}," in form
    response = as_editor.post(
        url, {"environment": "global", "deploy_disabled": "on", "reason": "new version"}
    )
    assert response.status_code == 302
    assert len(api_writes(on_sandbox)) == 1
    page = as_editor.get(response["Location"]).content.decode()
    version = item["flow_version_iteration"]
    assert f"{item['name']} version {version} in all environments" in page
    assert "Disabled — will not run" in page
    events = AuditEvent.objects.filter(action="create").order_by("id")
    assert [e.outcome for e in events] == ["pending", "succeeded"]
    assert events[1].deployment_id and events[1].after["enabled"] is False


def test_create_in_a_taken_environment_shows_the_field_error(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    answer_in(on_sandbox, shape)
    response = as_editor.post(url, {"environment": item["virtual_environment_id"]})
    assert response.status_code == 422
    assert "Only one version of a flow" in " ".join(response.context["form"].errors["environment"])


@pytest.mark.parametrize("live", [True, False], ids=["live", "test"])
def test_enable_and_disable_warn_about_live_and_report_the_true_outcome(
    as_editor, on_sandbox, shape, live
):
    item = find_deployment(on_sandbox, enabled=True, live=live)
    answer_in(on_sandbox, shape)
    asked = as_editor.post(deployment_url(item, "disable/"), {"ask": "1"}).content.decode()
    assert ("This is a live environment." in asked) is live
    assert f"Disable {item['name']} version {item['flow_version_iteration']} in" in asked
    off = as_editor.post(
        deployment_url(item, "disable/"), {"reason": "outage"}, HTTP_HX_REQUEST="true"
    )
    assert off.status_code == 200
    assert "is now disabled" in toast_of(off)["message"]
    on = as_editor.post(deployment_url(item, "enable/"), {"reason": "back"}, HTTP_HX_REQUEST="true")
    assert "is now enabled" in toast_of(on)["message"]
    assert len(api_writes(on_sandbox)) == 2
    assert state_of(on_sandbox, item).is_enabled
    events = AuditEvent.objects.exclude(outcome="pending").order_by("id")
    assert [(e.action, e.outcome) for e in events] == [
        ("disable", "succeeded"),
        ("enable", "succeeded"),
    ]
    assert [e.after["enabled"] for e in events] == [False, True]
    detail = as_editor.get(deployment_url(item)).content.decode()
    assert "<dt>Enabled through the console by</dt><dd>Edie Editor</dd>" in detail
    assert "<dt>Enabled by (according to Patchworks)</dt><dd>Edie Editor" in detail


def test_delete_succeeds_and_names_what_was_deleted(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=False)
    answer_in(on_sandbox, shape)
    confirm = as_editor.get(deployment_url(item, "delete/")).content.decode()
    assert f"{item['name']} version {item['flow_version_iteration']}" in confirm
    response = as_editor.post(deployment_url(item, "delete/"), follow=True)
    assert response.status_code == 200
    assert state_of(on_sandbox, item) is None
    events = AuditEvent.objects.filter(action="delete").order_by("id")
    assert [e.outcome for e in events] == ["pending", "succeeded"]
    assert events[0].flow_name == item["name"]


def test_the_audit_log_names_what_was_done(as_editor, on_sandbox, shape):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    answer_in(on_sandbox, shape)
    as_editor.post(deployment_url(item, "disable/"), {"reason": "outage"}, HTTP_HX_REQUEST="true")
    html = as_editor.get("/audit/").content.decode()
    assert f"disabled {item['name']} version {item['flow_version_iteration']} in" in html
    assert item["virtualEnvironment"]["name"] in html
    event = AuditEvent.objects.exclude(outcome="pending").get(action="disable")
    assert (event.outcome, event.environment_type) == ("succeeded", "live")


def test_a_read_only_key_is_told_it_may_not_change_deployments(client, on_sandbox, shape):
    from tests.factories import make_user

    person = make_user("rita", "Operator", full_name="Rita Readonly", api_key=READ_ONLY_KEY)
    client.force_login(person)
    item = find_deployment(on_sandbox, enabled=True)
    answer_in(on_sandbox, shape)
    response = client.post(deployment_url(item, "disable/"), HTTP_HX_REQUEST="true")
    assert "may not change deployments" in response.content.decode()
    assert state_of(on_sandbox, item).is_enabled
    event = AuditEvent.objects.exclude(outcome="pending").get(action="disable")
    assert (event.outcome, event.upstream_status) == ("failed", 403)


def test_a_bodyless_write_whose_read_back_fails_is_recorded_as_done(
    as_editor, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=True)
    answer_in(on_sandbox, "bodyless-writes")
    real = PatchworksClient.get_deployment
    reads = []

    def read_back_fails(self, *args, **kwargs):
        reads.append(args)
        if len(reads) > 1:  # the state check before the write works; the read-back does not
            raise ServerError("Patchworks is not answering properly right now.", status=503)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PatchworksClient, "get_deployment", read_back_fails)
    response = as_editor.post(deployment_url(item, "disable/"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Patchworks made the change" in html
    assert "know whether the change was made" not in html
    assert len(api_writes(on_sandbox)) == 1
    monkeypatch.undo()
    assert not state_of(on_sandbox, item).is_enabled
    event = AuditEvent.objects.exclude(outcome="pending").get(action="disable")
    assert (event.outcome, event.upstream_status) == ("succeeded", None)
    assert "Patchworks made the change" in event.message
