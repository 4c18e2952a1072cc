"""Every page and every action against every fault the sandbox can inject.

No 500, a plain message, the audit trail records the real outcome, and no write is sent twice.
"""

from __future__ import annotations

import pytest

from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, deployment_url, find_deployment, sandbox_deployments

pytestmark = pytest.mark.django_db

# fault → (words the person reads, the audit outcome of a write that met it)
FAULTS = {
    "error 500": ({"error_status": 500}, "not answering properly", "failed"),
    "error 502": ({"error_status": 502}, "(error 502)", "unknown"),
    "error 503": ({"error_status": 503}, "not answering properly", "failed"),
    "429": ({"retry_after": 3}, "try again in 3 seconds", "failed"),
    # A 2xx with an unreadable body was done: the console reads the deployment back.
    "malformed body": ({"malformed": True}, "could not read", "succeeded"),
    "read timeout": ({"hang_seconds": 1.5}, "did not answer in time", "unknown"),
}
PAGES = {
    "list": "/deployments/",
    "flow version list": "/flow-versions/{fv}/deployments/",
    "detail": "{detail}",
    "edit form": "{detail}edit/",
    "delete confirmation": "{detail}delete/",
    "create form": "/flow-versions/{fv}/deployments/new/",
}


@pytest.fixture
def as_editor(client, editor, on_sandbox, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    settings.PATCHWORKS_READ_TIMEOUT = 0.5
    client.force_login(editor)
    client.get("/deployments/")  # pickers cached, as after any earlier page
    return client


def page_url(template: str, item: dict) -> str:
    return template.format(detail=deployment_url(item), fv=item["flow_version_id"])


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_every_fault_in_plain_words(as_editor, on_sandbox, page, fault):
    item = find_deployment(on_sandbox, enabled=True)
    faults, words, _ = FAULTS[fault]
    on_sandbox.set_faults(methods=["GET"], **faults)
    response = as_editor.get(page_url(PAGES[page], item))
    assert response.status_code != 500
    assert response.status_code >= 400
    assert words in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_when_patchworks_cannot_be_reached(as_editor, on_sandbox, settings, page):
    item = find_deployment(on_sandbox, enabled=True)
    settings.PATCHWORKS_BASE_URL = "http://127.0.0.1:9"
    response = as_editor.get(page_url(PAGES[page], item))
    assert response.status_code >= 400 and response.status_code != 500
    assert "could not be reached" in response.content.decode()


def post_action(client, sandbox, action: str, item: dict):
    """Send one action the way its page does; returns the response."""
    if action == "enable":
        return client.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    if action == "disable":
        return client.post(deployment_url(item, "disable/"), HTTP_HX_REQUEST="true")
    if action == "delete":
        return client.post(deployment_url(item, "delete/"), follow=True)
    if action == "update":
        form = client.get(deployment_url(item, "edit/")).context["form"]
        data = {"environment": form["environment"].value(), "opened": form["opened"].value()}
        data["priority"] = "1" if item["priority"] != 1 else "5"
        enabled_at = form["enabled_at"].value()
        data["enabled_at"] = (
            enabled_at.astimezone().strftime("%Y-%m-%dT%H:%M") if enabled_at else ""
        )
        return client.post(deployment_url(item, "edit/"), data)
    return client.post(
        f"/flow-versions/{item['flow_version_id']}/deployments/new/",
        {"environment": "global", "reason": "fault check"},
    )


ACTIONS = {
    "enable": ("POST", False),
    "disable": ("POST", True),
    "create": ("POST", True),
    "update": ("PUT", True),
    "delete": ("DELETE", True),
}


def target_for(sandbox, action: str, enabled: bool) -> dict:
    if action != "create":
        return find_deployment(sandbox, enabled=enabled)
    # A flow version whose flow has no global deployment yet, so the create is valid.
    taken = {d["flowVersion"]["flow_id"] for d in sandbox_deployments(sandbox, "filter[global]=1")}
    return next(
        d
        for d in sandbox_deployments(sandbox, "filter[global]=0")
        if d["flowVersion"]["flow_id"] not in taken
    )


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_meets_every_fault_with_one_write_and_the_true_outcome(
    as_editor, on_sandbox, action, fault
):
    method, enabled = ACTIONS[action]
    item = target_for(on_sandbox, action, enabled)
    faults, words, outcome = FAULTS[fault]
    on_sandbox.clear_requests()
    on_sandbox.set_faults(methods=[method], **faults)
    response = post_action(as_editor, on_sandbox, action, item)
    assert response.status_code != 500
    if outcome == "succeeded":
        words = "could not read"
        assert words not in response.content.decode()
    else:
        assert words in response.content.decode()
    assert len(api_writes(on_sandbox)) == 1
    events = AuditEvent.objects.filter(action=action).order_by("id")
    assert [event.outcome for event in events] == ["pending", outcome]


@pytest.mark.parametrize("action", ["enable", "delete", "update"])
def test_an_unreachable_patchworks_sends_nothing_and_records_the_failure(
    as_editor, on_sandbox, settings, action
):
    item = find_deployment(on_sandbox, enabled=action != "enable")
    if action == "update":
        form = as_editor.get(deployment_url(item, "edit/"))
        assert form.status_code == 200
    settings.PATCHWORKS_BASE_URL = "http://127.0.0.1:9"
    on_sandbox.clear_requests()
    url = deployment_url(item, "edit/" if action == "update" else f"{action}/")
    response = as_editor.post(
        url, {"priority": "1", "environment": "global", "reason": "fault check"}, follow=True
    )
    assert response.status_code != 500
    assert "could not be reached" in response.content.decode()
    assert api_writes(on_sandbox) == []
    if action != "update":
        events = AuditEvent.objects.filter(action=action).order_by("id")
        assert [event.outcome for event in events] == ["pending", "failed"]
