"""Bulk items through the one change pipeline: names in every response shape, the names of
protected environments typed once in the preview, and one change request for the job."""

from __future__ import annotations

import pytest

from deployments_ui import audit
from deployments_ui.bulk import running
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent, BulkItem, BulkJob
from deployments_ui.notifications import events
from tests.bulk.test_bulk import ids, pick
from tests.changes.helpers import protect
from tests.deployments import read_back
from tests.factories import make_user

pytestmark = pytest.mark.django_db
Item = BulkItem.Status


def start(client, items, **fields):
    data = {
        "action": "disable",
        "reason": "supplier maintenance",
        "deployment": ids(items),
        "confirmed": "1",
        **fields,
    }
    return client.post("/deployments/bulk/", data)


def test_bulk_names_the_flow_and_environment_in_every_shape(
    client, operator, shaped_sandbox, settings
):
    settings.PATCHWORKS_BASE_URL = shaped_sandbox.url
    shape = shaped_sandbox.shape()
    shaped_sandbox.set_shape(None)
    [item] = pick(shaped_sandbox, enabled=True, count=1, live=False)
    name, environment = item["name"], item["virtualEnvironment"]["name"]
    shaped_sandbox.set_shape(shape)
    client.force_login(operator)

    preview = client.post(
        "/deployments/bulk/", {"action": "disable", "deployment": ids([item])}
    ).content.decode()
    assert name in preview and environment in preview

    job_page = client.get(start(client, [item])["Location"]).content.decode()
    assert name in job_page and environment in job_page
    [write] = AuditEvent.objects.filter(action="disable", completes__isnull=True)
    assert (write.flow_name, write.environment_name) == (name, environment)
    assert f"disabled {name}" in audit.describe(write)
    payload = events.event_data(write, events.KIND_CHANGE)["deployment"]
    assert (payload["flow_name"], payload["environment_name"]) == (name, environment)


def test_protected_names_are_typed_once_in_the_preview(client, operator, on_sandbox):
    protect("live", approvals=0, confirm_name=True)
    items = pick(on_sandbox, enabled=True, count=2, live=True)
    names = sorted({item["virtualEnvironment"]["name"] for item in items})
    client.force_login(operator)
    preview = client.post(
        "/deployments/bulk/", {"action": "disable", "deployment": ids(items)}
    ).content.decode()
    for environment in names:
        assert f"type the name of <strong>{environment}</strong>" in preview

    refused = start(client, items, confirm_name=["wrong"])
    assert refused.status_code == 400 and "Nothing was sent" in refused.content.decode()
    assert not BulkJob.objects.exists()

    start(client, items, confirm_name=names)
    job = BulkJob.objects.get()
    assert sorted(job.confirmed_names) == names
    assert set(job.items.values_list("status", flat=True)) == {Item.DONE}
    assert all(not read_back(on_sandbox, item)["enabled_at"] for item in items)


def test_items_that_need_approval_make_one_request_for_the_job(client, operator, on_sandbox):
    protect("live")
    live = pick(on_sandbox, enabled=True, count=2, live=True)
    test = pick(on_sandbox, enabled=True, count=1, live=False)
    client.force_login(operator)
    start(client, live + test)

    job = BulkJob.objects.get()
    request = ChangeRequest.objects.get()
    assert request.bulk_job == job and "2 deployments" in request.summary
    statuses = dict(job.items.values_list("deployment_id", "status"))
    assert statuses[str(test[0]["id"])] == Item.DONE
    assert {statuses[str(item["id"])] for item in live} == {Item.WAITING}
    assert all(read_back(on_sandbox, item)["enabled_at"] for item in live)

    approver = make_user("eve", "Editor", full_name="Eve Approver", api_key="sandbox-key-editor")
    client.force_login(approver)
    client.post(f"/changes/{request.pk}/approve/", {"revision": request.revision})
    running.release_decided()

    assert set(job.items.values_list("status", flat=True)) == {Item.DONE}
    assert all(not read_back(on_sandbox, item)["enabled_at"] for item in live)
    request.refresh_from_db()
    assert request.status == "applied"


def test_a_declined_job_request_sends_nothing_for_its_items(client, operator, on_sandbox):
    protect("live")
    live = pick(on_sandbox, enabled=True, count=1, live=True)
    client.force_login(operator)
    start(client, live)
    request = ChangeRequest.objects.get()
    approver = make_user("eve", "Editor", full_name="Eve Approver", api_key="sandbox-key-editor")
    client.force_login(approver)
    client.post(f"/changes/{request.pk}/decline/", {"reason": "not tonight"})
    running.release_decided()
    item = BulkItem.objects.get()
    assert item.status == Item.CANCELLED and "declined" in item.message
    assert read_back(on_sandbox, live[0])["enabled_at"]


def test_undo_this_job_offers_only_the_items_it_changed(client, operator, on_sandbox):
    enabled = pick(on_sandbox, enabled=True, count=2, live=False)
    already = pick(on_sandbox, enabled=False, count=1, live=False)
    client.force_login(operator)
    start(client, enabled + already)
    job = BulkJob.objects.get()
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Undo this job (2 changed)" in page
    for item in enabled:
        assert f'name="deployment" value="{item["flow_version_id"]}:{item["id"]}"' in page
    assert f'value="{already[0]["flow_version_id"]}:{already[0]["id"]}"' not in page

    start(client, enabled, action="enable")
    assert all(read_back(on_sandbox, item)["enabled_at"] for item in enabled)
    assert not read_back(on_sandbox, already[0])["enabled_at"]
