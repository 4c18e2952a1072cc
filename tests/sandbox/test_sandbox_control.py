"""The /__sandbox__/ controls: reset, request log, deleting a flow version; and the demo data."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from tests.sandbox.helpers import (
    DEPLOYMENTS,
    all_deployments,
    all_pages,
    deployment_url,
    first_deployment,
    flow_versions,
    free_slot,
)

DEMO_USERS = {
    "sandbox-demo-key": "Demo Admin",
    "sandbox-key-viewer": "Vera Viewer",
    "sandbox-key-operator": "Oscar Operator",
    "sandbox-key-editor": "Edie Editor",
    "sandbox-key-admin": "Adam Admin",
    "sandbox-key-service": "Console Service",
    "sandbox-key-dashboard": "Dana Dashboard",
}


def test_the_demo_data_is_big_enough_and_follows_the_rules(sandbox):
    items = all_deployments(sandbox, include="flowVersion,virtualEnvironment")
    assert len(items) >= 300
    slots = Counter((d["flowVersion"]["flow_id"], d["virtual_environment_id"]) for d in items)
    assert max(slots.values()) == 1, "one version per environment, one global per flow"
    enabled = sum(d["enabled_at"] is not None for d in items)
    assert 0.55 < enabled / len(items) < 0.78
    assert len({d["enabled_by"] for d in items} - {None}) >= 3
    assert {d["priority"] for d in items} >= {None, 1, 2, 3, 4, 5}
    assert {d["virtualEnvironment"]["type"] for d in items if d["virtualEnvironment"]} == {
        "test",
        "live",
    }
    per_env = Counter(d["virtual_environment_id"] for d in items)
    assert max(per_env.values()) >= 8, "one flow can be deployed in many environments"


def test_the_demo_flows_have_three_to_six_versions(sandbox):
    flows = all_pages(sandbox, "/api/v1/flows")
    assert len(flows) >= 12
    for flow in flows[:12]:
        assert 3 <= len(flow_versions(sandbox, flow["id"])) <= 6


def test_each_demo_key_belongs_to_its_user(sandbox):
    for key in DEMO_USERS:
        sandbox.api("GET", DEPLOYMENTS, key=key, params={"per_page": 1})
    assert [entry["user"] for entry in sandbox.requests()] == list(DEMO_USERS.values())


def test_reset_restores_the_demo_data(sandbox):
    before = first_deployment(sandbox)
    sandbox.api("DELETE", deployment_url(before))
    assert sandbox.api("GET", deployment_url(before)).status_code == 404
    assert sandbox.reset() is True
    after = first_deployment(sandbox)
    assert after["id"] == before["id"]
    assert sandbox.api("GET", deployment_url(before)).status_code == 200


def test_reset_waits_for_a_write_held_by_a_fault_so_it_cannot_land_afterwards(sandbox):
    item = first_deployment(sandbox)
    sandbox.set_faults(methods=["DELETE"], hang_seconds=1.0)
    with pytest.raises(requests.Timeout):
        sandbox.api("DELETE", deployment_url(item), timeout=0.2)
    assert sandbox.reset(if_changed=True) is True
    time.sleep(1.0)  # past the hang: without the wait the delete would land now
    assert sandbox.api("GET", deployment_url(item)).status_code == 200
    assert sandbox.reset(if_changed=True) is False


def test_reset_gives_new_deployments_the_same_ids_each_time(sandbox):
    version, env = free_slot(sandbox)
    body = {"flow_version_id": version, "virtual_environment_id": env}
    path = f"/api/v1/flow-versions/{version}/deployments"
    first = sandbox.api("POST", path, json=body).json()["data"]["id"]
    sandbox.reset()
    assert sandbox.api("POST", path, json=body).json()["data"]["id"] == first


def test_reset_if_changed_skips_the_reload_after_reads_only(sandbox):
    sandbox.api("GET", DEPLOYMENTS)
    assert sandbox.reset(if_changed=True) is False
    sandbox.api("POST", deployment_url(first_deployment(sandbox), "/disable"))
    assert sandbox.reset(if_changed=True) is True


def test_reset_restores_from_the_snapshot(sandbox):
    body = requests.post(f"{sandbox.url}/__sandbox__/reset", timeout=30).json()
    assert body["from_snapshot"] is True
    assert body["deployments"] >= 300
    assert body["took_ms"] > 0


def test_a_full_reset_builds_the_data_again(sandbox):
    before = first_deployment(sandbox)
    body = requests.post(f"{sandbox.url}/__sandbox__/reset?full=1", timeout=30).json()
    assert body["from_snapshot"] is False
    after = first_deployment(sandbox)
    assert after["id"] == before["id"]
    assert after["created_at"] > before["created_at"], "timestamps are relative to now"


def test_the_request_log_records_api_calls(sandbox):
    sandbox.api("GET", DEPLOYMENTS, key="sandbox-key-viewer", params={"filter[LIKE]": "order"})
    sandbox.api("GET", DEPLOYMENTS, key="bad-key")
    sandbox.api("POST", "/api/v1/flow-versions/999999/deployments", json={})
    log = sandbox.requests()
    assert [(e["method"], e["path"], e["user"], e["status"]) for e in log] == [
        ("GET", DEPLOYMENTS, "Vera Viewer", 200),
        ("GET", DEPLOYMENTS, None, 401),
        ("POST", "/api/v1/flow-versions/999999/deployments", "Demo Admin", 404),
    ]
    assert log[0]["query"] == "filter%5BLIKE%5D=order"
    assert all(e["time"] and e["duration_ms"] is not None for e in log)


def test_the_request_log_never_holds_keys_or_control_calls(sandbox):
    sandbox.api("GET", DEPLOYMENTS, key="sandbox-key-admin")
    sandbox.faults()
    log = sandbox.requests()
    assert len(log) == 1
    assert "sandbox-key" not in str(log)


def test_the_request_log_can_be_cleared(sandbox):
    sandbox.api("GET", DEPLOYMENTS)
    sandbox.clear_requests()
    assert sandbox.requests() == []


def test_deleting_an_older_version_renumbers_iterations(sandbox):
    d = first_deployment(sandbox, sort="-flow_version_iteration")
    flow = d["flowVersion"]["flow_id"]
    versions = flow_versions(sandbox, flow)
    oldest = versions[0]["id"]
    assert oldest != d["flow_version_id"]
    old_deployments = sandbox.api("GET", f"/api/v1/flow-versions/{oldest}/deployments").json()

    result = sandbox.delete_flow_version(oldest)

    assert result["deleted_deployments"] == old_deployments["meta"]["total"]
    after = sandbox.api("GET", deployment_url(d), params={"include": "flowVersion"}).json()["data"]
    assert after["flow_version_iteration"] == d["flow_version_iteration"] - 1
    assert after["flowVersion"]["iteration"] == d["flow_version_iteration"] - 1
    renumbered = flow_versions(sandbox, flow)
    assert [v["id"] for v in renumbered] == [v["id"] for v in versions[1:]]
    assert [v["iteration"] for v in renumbered] == list(range(1, len(versions)))
    assert sandbox.api("GET", f"/api/v1/flow-versions/{oldest}/deployments").status_code == 404


def test_deleting_an_unknown_flow_version_answers_404(sandbox):
    response = requests.post(f"{sandbox.url}/__sandbox__/flow-versions/999999/delete", timeout=5)
    assert response.status_code == 404
