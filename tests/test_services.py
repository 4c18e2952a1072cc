"""The service layer against recorded Patchworks responses: keys, caching, audit ordering."""

from __future__ import annotations

import json
import threading

import pytest
import responses

from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.deployments import reads, writes
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import PatchworksError

BASE = "https://patchworks.test/api/v1"
DEPLOYMENT = {
    "id": 42,
    "flow_version_id": 7,
    "virtual_environment_id": 3,
    "name": "Orders → Shopify",
    "flow_version_iteration": 2,
    "enabled_at": None,
    "virtualEnvironment": {"id": 3, "name": "UK Live", "type": "live"},
    "flowVersion": {"id": 7, "flow_id": 1, "iteration": 2},
}
EMPTY_PAGE = {"data": [], "links": {}, "meta": {"current_page": 1, "last_page": 1, "total": 0}}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def patchworks(settings):
    settings.PATCHWORKS_BASE_URL = "https://patchworks.test"
    with responses.RequestsMock() as mocked:
        yield mocked


def actor_for(user) -> Actor:
    return Actor(
        user=user,
        username=user.username,
        name=user.get_full_name(),
        sso_identity="",
        sign_in_method="password",
        ip_address="127.0.0.1",
        user_agent="tests",
        request_id="req-1",
    )


def mock_pickers(patchworks) -> None:
    for path in (
        "flow-version-deployments/virtual-environments",
        "flow-version-deployments/packages",
        "flows",
    ):
        patchworks.get(f"{BASE}/{path}", json=EMPTY_PAGE)


def test_pickers_are_cached_per_key(patchworks, viewer, operator):
    mock_pickers(patchworks)
    reads.pickers_get(user=viewer)
    reads.pickers_get(user=viewer)
    assert len(patchworks.calls) == 3
    reads.pickers_get(user=operator)
    assert len(patchworks.calls) == 6
    assert {call.request.headers["Authorization"] for call in patchworks.calls} == {
        "sandbox-key-viewer",
        "sandbox-key-operator",
    }


def test_every_call_carries_the_acting_persons_key(patchworks, viewer, operator):
    patchworks.get(f"{BASE}/flow-version-deployments", json=EMPTY_PAGE)
    reads.deployment_list(user=viewer, query=reads.DeploymentQuery())
    reads.deployment_list(user=operator, query=reads.DeploymentQuery())
    keys = [call.request.headers["Authorization"] for call in patchworks.calls]
    assert keys == ["sandbox-key-viewer", "sandbox-key-operator"]


def test_the_attempt_is_on_record_before_the_write_is_sent(patchworks, operator):
    seen_at_send = []

    def enable(request):
        seen_at_send.extend(AuditEvent.objects.values_list("outcome", flat=True))
        return 200, {}, json.dumps({"data": {**DEPLOYMENT, "enabled_at": "2026-01-01T10:00:00Z"}})

    patchworks.get(f"{BASE}/flow-versions/7/deployments/42", json={"data": DEPLOYMENT})
    patchworks.add_callback(responses.POST, f"{BASE}/flow-versions/7/deployments/42/enable", enable)
    result = writes.set_enabled(
        actor=actor_for(operator),
        user=operator,
        ref=DeploymentRef(flow_version_id="7", deployment_id="42"),
        enabled=True,
        reason="because",
    )
    assert result.is_enabled
    assert seen_at_send == ["pending"]
    attempt, outcome = AuditEvent.objects.order_by("id")
    assert (attempt.outcome, outcome.outcome, outcome.completes_id) == (
        "pending",
        "succeeded",
        attempt.id,
    )
    assert attempt.environment_name == "UK Live" and attempt.environment_type == "live"
    assert attempt.before["enabled"] is False and outcome.after["enabled"] is True


def enable_with(patchworks, operator, meanwhile, *, status=200):
    """Enable deployment 42, `meanwhile` given; what the write's thread was, and the result."""
    seen = {}

    def enable(request):
        seen["thread"] = threading.current_thread()
        body = {"data": {**DEPLOYMENT, "enabled_at": "2026-01-01T10:00:00Z"}}
        return status, {}, json.dumps(body if status == 200 else {"message": "No."})

    patchworks.get(f"{BASE}/flow-versions/7/deployments/42", json={"data": DEPLOYMENT})
    patchworks.add_callback(responses.POST, f"{BASE}/flow-versions/7/deployments/42/enable", enable)
    seen["result"] = writes.set_enabled(
        actor=actor_for(operator),
        user=operator,
        ref=DeploymentRef(flow_version_id="7", deployment_id="42"),
        enabled=True,
        reason="live: a reason is needed",
        meanwhile=meanwhile,
    )
    return seen


def test_meanwhile_runs_here_once_the_attempt_is_recorded_while_the_write_is_in_flight(
    patchworks, operator
):
    prepared = {}

    def meanwhile(attempt):
        prepared["thread"] = threading.current_thread()
        prepared["attempt"] = attempt.pk
        prepared["on record"] = list(AuditEvent.objects.values_list("outcome", flat=True))

    seen = enable_with(patchworks, operator, meanwhile)
    assert seen["result"].is_enabled
    assert seen["thread"] is not threading.current_thread()
    assert prepared["thread"] is threading.current_thread()
    assert prepared["on record"] == ["pending"]
    attempt, outcome = AuditEvent.objects.order_by("id")
    assert prepared["attempt"] == attempt.pk == outcome.completes_id
    assert outcome.outcome == "succeeded"


def test_a_failing_meanwhile_changes_nothing_about_the_write_or_its_record(patchworks, operator):
    def meanwhile(attempt):
        raise RuntimeError("the page could not prepare its row")

    assert enable_with(patchworks, operator, meanwhile)["result"].is_enabled
    assert list(AuditEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "pending",
        "succeeded",
    ]


def test_a_write_refused_while_meanwhile_ran_is_recorded_as_failed(patchworks, operator):
    prepared = []
    with pytest.raises(PatchworksError):
        enable_with(patchworks, operator, prepared.append, status=422)
    assert len(prepared) == 1
    assert list(AuditEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "pending",
        "failed",
    ]


def test_someone_without_a_key_is_refused_and_it_is_recorded(patchworks, keyless_operator):
    with pytest.raises(MissingApiKey):
        writes.set_enabled(
            actor=actor_for(keyless_operator),
            user=keyless_operator,
            ref=DeploymentRef(flow_version_id="7", deployment_id="42"),
            enabled=False,
        )
    assert len(patchworks.calls) == 0
    refusal = AuditEvent.objects.get()
    assert refusal.outcome == "refused" and "No Patchworks API key" in refusal.message


def test_a_refused_update_names_what_changed(patchworks, editor):
    patchworks.get(f"{BASE}/flow-versions/7/deployments/42", json={"data": DEPLOYMENT})
    current = reads.deployment_get(user=editor, flow_version_id="7", deployment_id="42")
    opened = {**writes.editable_values(current), "priority": 5}
    with pytest.raises(writes.ChangedSinceOpened) as refused:
        writes.update(
            actor=actor_for(editor),
            user=editor,
            current=current,
            changes={"priority": 1},
            opened_values=opened,
        )
    assert refused.value.changes == ["priority"]
    assert [call.request.method for call in patchworks.calls] == ["GET"]


def test_a_create_records_the_new_deployment_id(patchworks, editor):
    mock_pickers(patchworks)
    patchworks.post(f"{BASE}/flow-versions/7/deployments", json={"data": DEPLOYMENT})
    created = writes.create(
        actor=actor_for(editor),
        user=editor,
        flow_version_id="7",
        virtual_environment_id="3",
        priority=None,
        deploy_disabled=True,
    )
    assert created.id == "42"
    body = json.loads(patchworks.calls[-1].request.body)
    assert body == {
        "flow_version_id": "7",
        "virtual_environment_id": "3",
        "priority": None,
        "deploy_disabled": True,
    }
    outcome = AuditEvent.objects.order_by("id").last()
    assert outcome.outcome == "succeeded" and outcome.deployment_id == "42"
