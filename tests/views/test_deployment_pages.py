"""The detail page, create, edit (with its conflict check) and delete."""

from __future__ import annotations

import pytest

from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, deployment_url, find_deployment, read_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_editor(client, editor, on_sandbox):
    client.force_login(editor)
    return client


def free_environment(sandbox, item: dict) -> str:
    """An environment where this deployment's flow is not deployed yet."""
    flow = item["flowVersion"]["flow_id"]
    taken = {
        d["virtual_environment_id"]
        for d in sandbox.api(
            "GET", f"/api/v1/flow-version-deployments?filter[flowVersion.flow]={flow}&per_page=100"
        ).json()["data"]
    }
    environments = sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments?per_page=100"
    ).json()["data"]
    return next(str(e["id"]) for e in environments if e["id"] not in taken)


# Detail


def test_detail_says_the_state_in_plain_words(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    html = as_editor.get(deployment_url(item)).content.decode()
    assert "Enabled — runs on its schedule" in html
    assert item["virtualEnvironment"]["name"] in html
    assert "a <strong>live</strong> environment" in html
    assert f"version id {item['flow_version_id']}" in html
    assert item["enabledBy"]["name"] in html
    assert "Edit" in html and "Delete" in html


def test_detail_of_a_disabled_deployment(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    html = as_editor.get(deployment_url(item)).content.decode()
    assert "Disabled — will not run" in html


def test_detail_hides_actions_a_viewer_may_not_take(client, viewer, on_sandbox):
    client.force_login(viewer)
    item = find_deployment(on_sandbox, enabled=True)
    html = client.get(deployment_url(item)).content.decode()
    assert "Enabled — runs on its schedule" in html
    assert "/edit/" not in html and "/delete/" not in html and "/disable/" not in html


def test_detail_of_a_missing_deployment_is_a_plain_404(as_editor):
    response = as_editor.get("/flow-versions/1/deployments/999999/")
    assert response.status_code == 404
    assert "no longer exists" in response.content.decode()


def test_detail_shows_history_after_a_toggle(client, operator, on_sandbox):
    client.force_login(operator)
    item = find_deployment(on_sandbox, enabled=False)
    client.post(deployment_url(item, "enable/"), {"reason": "supplier back"})
    html = client.get(deployment_url(item)).content.decode()
    assert "supplier back" in html


# Create


def test_it_creates_a_deployment(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    environment = free_environment(on_sandbox, item)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    form = as_editor.get(url)
    assert form.status_code == 200
    assert "No environment (global)" in form.content.decode()
    response = as_editor.post(
        url,
        {"environment": environment, "priority": "2", "deploy_disabled": "on", "reason": "pilot"},
    )
    assert response.status_code == 302
    created = api_writes(on_sandbox)[-1]
    assert created["method"] == "POST" and created["status"] == 200
    page = as_editor.get(response["Location"]).content.decode()
    assert "Created " in page
    assert "Disabled — will not run" in page
    events = AuditEvent.objects.filter(action="create").order_by("id")
    assert [e.outcome for e in events] == ["pending", "succeeded"]
    assert events[1].deployment_id


def test_create_shows_patchworks_validation_against_the_field(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    response = as_editor.post(url, {"environment": item["virtual_environment_id"], "priority": "3"})
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["environment"]
    assert response.context["form"]["priority"].value() == "3"


def test_create_keeps_input_when_patchworks_is_down(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    environment = free_environment(on_sandbox, item)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    as_editor.get(url)
    on_sandbox.set_faults(methods=["POST"], error_status=503)
    response = as_editor.post(url, {"environment": environment, "priority": "4", "reason": "x"})
    assert response.status_code == 502
    html = response.content.decode()
    assert "not answering properly" in html
    assert 'value="4" selected' in html
    assert AuditEvent.objects.filter(action="create").order_by("id").last().outcome == "failed"


def test_create_rejects_a_bad_priority_without_calling_patchworks(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    url = f"/flow-versions/{item['flow_version_id']}/deployments/new/"
    response = as_editor.post(url, {"environment": "global", "priority": "9"})
    assert response.status_code == 400
    assert response.context["form"].errors["priority"]
    assert api_writes(on_sandbox) == []


def test_an_operator_may_not_create(client, operator, on_sandbox):
    client.force_login(operator)
    item = find_deployment(on_sandbox, enabled=True)
    response = client.post(f"/flow-versions/{item['flow_version_id']}/deployments/new/", {})
    assert response.status_code == 403


# Edit


def edit_form_data(response) -> dict:
    form = response.context["form"]
    data = {name: form[name].value() for name in form.fields}
    data["enabled_at"] = form["enabled_at"].value()
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.pop("deploy_disabled")
    if hasattr(data["enabled_at"], "strftime"):
        data["enabled_at"] = data["enabled_at"].astimezone().strftime("%Y-%m-%dT%H:%M")
    return data


def test_it_edits_only_what_changed(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    data = edit_form_data(as_editor.get(deployment_url(item, "edit/")))
    data["priority"] = "1" if item["priority"] != 1 else "5"
    response = as_editor.post(deployment_url(item, "edit/"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    put = api_writes(on_sandbox)[-1]
    assert put["method"] == "PUT"
    assert read_back(on_sandbox, item)["priority"] == int(data["priority"])
    assert read_back(on_sandbox, item)["enabled_at"]


def test_edit_with_nothing_changed_sends_nothing(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    data = edit_form_data(as_editor.get(deployment_url(item, "edit/")))
    response = as_editor.post(deployment_url(item, "edit/"), data, follow=True)
    assert "Nothing was changed" in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_edit_conflict_is_shown_and_nothing_is_overwritten(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    data = edit_form_data(as_editor.get(deployment_url(item, "edit/")))
    someone_else = 2 if item["priority"] != 2 else 4
    on_sandbox.api(
        "PUT",
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}",
        key="sandbox-key-dashboard",
        json={"priority": someone_else},
    )
    data["priority"] = "5" if someone_else != 5 else "1"
    response = as_editor.post(deployment_url(item, "edit/"), data)
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed this deployment in Patchworks after you opened this form" in html
    assert "priority" in html
    assert read_back(on_sandbox, item)["priority"] == someone_else
    assert AuditEvent.objects.filter(action="update").order_by("id").last().outcome == "refused"

    again = {**data, "opened": response.context["form"].data["opened"]}
    response = as_editor.post(deployment_url(item, "edit/"), again)
    assert response.status_code == 302
    assert read_back(on_sandbox, item)["priority"] == int(data["priority"])


def test_edit_disable_box_disables(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    data = edit_form_data(as_editor.get(deployment_url(item, "edit/")))
    data["deploy_disabled"] = "on"
    assert as_editor.post(deployment_url(item, "edit/"), data).status_code == 302
    assert read_back(on_sandbox, item)["enabled_at"] is None


# Delete


def test_delete_asks_first_and_names_what_goes(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    html = as_editor.get(deployment_url(item, "delete/")).content.decode()
    assert "permanently delete" in html
    assert item["virtualEnvironment"]["name"] in html
    # Ids only on the detail page: the confirmation names the version by its number.
    assert f"version id {item['flow_version_id']}" not in html
    assert api_writes(on_sandbox) == []


def test_delete_removes_and_returns_to_the_list(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = as_editor.post(deployment_url(item, "delete/"), {"reason": "retired"})
    assert response.status_code == 302 and response["Location"] == "/deployments/"
    assert read_back(on_sandbox, item) == {}
    events = AuditEvent.objects.filter(action="delete").order_by("id")
    assert [e.outcome for e in events] == ["pending", "succeeded"]
    assert events[0].reason == "retired"


def test_delete_failure_keeps_the_deployment_and_says_why(as_editor, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    on_sandbox.set_faults(methods=["DELETE"], error_status=503)
    response = as_editor.post(deployment_url(item, "delete/"), follow=True)
    assert "not answering properly" in response.content.decode()
    assert read_back(on_sandbox, item)["id"] == item["id"]
