"""Bulk enable and disable: selection, preview, the job on the worker (Huey in immediate mode),
skips, partial failure, cancel, retry and an interrupted item, against the sandbox over HTTP."""

from __future__ import annotations

import math

import pytest
from django.utils import timezone

from deployments_ui.bulk import running
from deployments_ui.bulk import services as bulk
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent, BulkItem, BulkJob
from tests.changes.helpers import freeze_now, protect
from tests.deployments import api_writes, read_back, sandbox_deployments
from tests.factories import make_user

pytestmark = pytest.mark.django_db
Item = BulkItem.Status


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def pick(sandbox, *, enabled: bool, count: int, live: bool | None = None) -> list[dict]:
    found = []
    for item in sandbox_deployments(sandbox, "filter[global]=0&sort=created_at"):
        environment = item.get("virtualEnvironment") or {}
        if bool(item["enabled_at"]) != enabled:
            continue
        if live is not None and (environment.get("type") == "live") != live:
            continue
        found.append(item)
        if len(found) == count:
            return found
    raise AssertionError("the demo data has too few such deployments")


def ids(items: list[dict]) -> list[str]:
    return [f"{item['flow_version_id']}:{item['id']}" for item in items]


def post(client, items, action="disable", **fields):
    data = {"action": action, "reason": "supplier maintenance", "deployment": ids(items), **fields}
    return client.post("/deployments/bulk/", data)


def total(sandbox) -> int:
    return sandbox.api("GET", "/api/v1/flow-version-deployments?per_page=1").json()["meta"]["total"]


def writes(sandbox) -> list[str]:
    return [entry["path"] for entry in api_writes(sandbox)]


# Selection and preview


def test_the_list_offers_a_checkbox_per_row_and_select_all(signed_in, on_sandbox):
    html = signed_in.get("/deployments/?per_page=10").content.decode()
    assert html.count('form="bulk-form"') == 10
    assert 'name="deployment" value="' in html
    assert '<form id="bulk-form"' in html
    assert 'name="select_all" value="1"' in html
    assert "that match this filter" in html


def test_viewers_get_no_checkboxes(client, viewer, on_sandbox):
    client.force_login(viewer)
    html = client.get("/deployments/?per_page=10").content.decode()
    assert 'form="bulk-form"' not in html
    assert client.post("/deployments/bulk/", {"action": "disable"}).status_code == 403


def test_the_preview_says_what_will_change_and_sends_nothing(signed_in, on_sandbox):
    enabled = pick(on_sandbox, enabled=True, count=2, live=False)
    live = pick(on_sandbox, enabled=True, count=1, live=True)
    disabled = pick(on_sandbox, enabled=False, count=1)
    response = post(signed_in, enabled + live + disabled)
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "3 will be disabled; 1 is already disabled and will be skipped; "
        "1 is in live environments" in html
    )
    live_name = live[0]["virtualEnvironment"]["name"]
    assert live_name in html.split('id="bulk-live"')[1].split("</ul>")[0]
    assert writes(on_sandbox) == []
    assert not BulkJob.objects.exists()
    # The confirmation carries every chosen deployment and asks for confirmed=1.
    assert 'name="confirmed" value="1"' in html
    assert all(f'value="{value}"' in html for value in ids(enabled + live + disabled))


def test_the_preview_reads_the_list_not_each_deployment(signed_in, on_sandbox):
    items = pick(on_sandbox, enabled=True, count=5)
    signed_in.get("/deployments/")  # the picker cache, as the list page before it
    on_sandbox.clear_requests()
    post(signed_in, items)
    reads = [entry for entry in on_sandbox.requests() if entry["method"] == "GET"]
    assert reads and all(entry["path"] == "/api/v1/flow-version-deployments" for entry in reads)
    assert len(reads) <= math.ceil(total(on_sandbox) / 100)


def test_select_all_takes_every_match_up_to_the_cap(signed_in, on_sandbox, settings):
    settings.CONSOLE_BULK_MAX_ITEMS = 4
    response = signed_in.post(
        "/deployments/bulk/", {"action": "enable", "select_all": "1", "scope": "no"}
    )
    assert response.status_code == 200
    preview = response.context["preview"]
    assert len(preview.selected) == 4
    assert preview.over_cap
    assert "only the first 4 are included" in response.content.decode()


def test_select_all_keeps_to_the_filter(signed_in, on_sandbox):
    environment = pick(on_sandbox, enabled=True, count=1)[0]["virtualEnvironment"]
    response = signed_in.post(
        "/deployments/bulk/",
        {"action": "disable", "select_all": "1", "environment": str(environment["id"])},
    )
    selected = response.context["preview"].selected
    assert selected
    assert {item.deployment.virtual_environment_id for item in selected} == {str(environment["id"])}


def test_nothing_chosen_is_refused_plainly(signed_in, on_sandbox):
    response = signed_in.post("/deployments/bulk/", {"action": "disable"})
    assert response.status_code == 400
    assert "Choose at least one deployment" in response.content.decode()


def test_a_required_reason_is_asked_for_before_starting(signed_in, on_sandbox, settings):
    settings.CONSOLE_REQUIRE_REASON = True
    items = pick(on_sandbox, enabled=True, count=1)
    response = post(signed_in, items, reason="", confirmed="1")
    assert response.status_code == 400
    assert not BulkJob.objects.exists()
    assert writes(on_sandbox) == []


# The job


def test_confirming_runs_the_job_and_answers_303_to_its_page(signed_in, on_sandbox):
    enabled = pick(on_sandbox, enabled=True, count=3)
    disabled = pick(on_sandbox, enabled=False, count=1)
    on_sandbox.clear_requests()
    response = post(signed_in, enabled + disabled, confirmed="1")
    assert response.status_code == 303
    job = BulkJob.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == BulkJob.Status.FINISHED
    statuses = dict(job.items.values_list("deployment_id", "status"))
    assert [statuses[str(item["id"])] for item in enabled] == [Item.DONE] * 3
    assert statuses[str(disabled[0]["id"])] == Item.SKIPPED
    assert all(read_back(on_sandbox, item)["enabled_at"] is None for item in enabled)
    assert len(writes(on_sandbox)) == 3
    # One attempt and one outcome per written item, with the job's id; one refusal per skip.
    attempts = AuditEvent.objects.filter(
        request_id=f"bulk-job-{job.pk}", outcome=AuditEvent.Outcome.PENDING
    )
    assert attempts.count() == 3
    assert all(event.results.get().outcome == "succeeded" for event in attempts)
    assert all(event.after["bulk_job_id"] == job.pk for event in attempts)
    skipped = AuditEvent.objects.get(request_id=f"bulk-job-{job.pk}", outcome="refused")
    assert skipped.deployment_id == str(disabled[0]["id"])
    # And one event for the job itself.
    started = AuditEvent.objects.get(action=AuditEvent.Action.BULK)
    assert started.after["bulk_job_id"] == job.pk
    assert started.reason == "supplier maintenance"
    log = signed_in.get("/audit/").content.decode()
    assert f"disable 4 deployments as bulk job #{job.pk}" in log
    assert log.count(f"bulk job #{job.pk}") >= 5


def test_the_job_page_shows_each_result_and_polls_only_while_running(signed_in, on_sandbox):
    enabled = pick(on_sandbox, enabled=True, count=1)
    disabled = pick(on_sandbox, enabled=False, count=1)
    post(signed_in, enabled + disabled, confirmed="1")
    job = BulkJob.objects.get()
    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()
    assert "2 of 2</strong> finished: 1 done, 1 skipped, 0 failed" in html
    assert (
        '<strong>Skipped</strong>: <q class="failure-message">Already disabled by someone else.'
        " Nothing was changed.</q>" in html
    )
    assert "hx-trigger" not in html.split('id="job-progress"')[1].split(">")[0]
    BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.RUNNING)
    partial = signed_in.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('\n<section id="job-progress"') or partial.lstrip().startswith(
        '<section id="job-progress"'
    )
    assert 'hx-trigger="every 2s"' in partial
    assert "<html" not in partial


def test_skipped_says_by_whom(signed_in, on_sandbox):
    enabled = pick(on_sandbox, enabled=True, count=1)
    post(signed_in, enabled, action="enable", confirmed="1")
    item = BulkItem.objects.get()
    assert item.status == Item.SKIPPED
    who = enabled[0]["enabledBy"]["name"]
    assert item.message.startswith(f"Already enabled by {who} on ")
    assert item.message.endswith("Nothing was changed.")


def test_a_partial_failure_reports_patchworks_message_per_item(signed_in, on_sandbox):
    items = pick(on_sandbox, enabled=True, count=3)
    broken = items[1]
    on_sandbox.set_faults(
        error_status=500, methods=["POST"], path_contains=f"/deployments/{broken['id']}/disable"
    )
    post(signed_in, items, confirmed="1")
    job = BulkJob.objects.get()
    statuses = dict(job.items.values_list("deployment_id", "message"))
    failed = job.items.get(status=Item.FAILED)
    assert failed.deployment_id == str(broken["id"])
    assert failed.message  # Patchworks' (or the console's plain) message
    assert job.items.filter(status=Item.DONE).count() == 2, statuses
    outcome = AuditEvent.objects.get(completes__deployment_id=str(broken["id"]))
    assert outcome.outcome == "failed"
    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()
    assert "Retry the failed ones (1)" in html


def test_retry_starts_a_new_job_with_the_failed_ones(signed_in, on_sandbox):
    items = pick(on_sandbox, enabled=True, count=3)
    broken = items[0]
    on_sandbox.set_faults(
        error_status=503, methods=["POST"], path_contains=f"/deployments/{broken['id']}/disable"
    )
    post(signed_in, items, confirmed="1")
    first = BulkJob.objects.get()
    on_sandbox.clear_faults()
    on_sandbox.clear_requests()
    response = signed_in.post(f"/jobs/{first.pk}/retry/")
    assert response.status_code == 303
    second = BulkJob.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"/jobs/{second.pk}/"
    assert second.retry_of == first
    assert list(second.items.values_list("deployment_id", "status")) == [
        (str(broken["id"]), Item.DONE)
    ]
    assert writes(on_sandbox) == [
        f"/api/v1/flow-versions/{broken['flow_version_id']}/deployments/{broken['id']}/disable"
    ]


def test_retry_refuses_when_nothing_failed(signed_in, on_sandbox):
    post(signed_in, pick(on_sandbox, enabled=True, count=1), confirmed="1")
    job = BulkJob.objects.get()
    response = signed_in.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert "Nothing failed in this job" in response.content.decode()
    assert BulkJob.objects.count() == 1


def test_cancel_before_the_worker_starts_sends_nothing(signed_in, on_sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    items = pick(on_sandbox, enabled=True, count=3)
    post(signed_in, items, confirmed="1")
    job = BulkJob.objects.get()
    on_sandbox.clear_requests()
    response = signed_in.post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 303
    job.refresh_from_db()
    assert job.status == BulkJob.Status.CANCELLED
    assert set(job.items.values_list("status", flat=True)) == {Item.CANCELLED}
    assert running.run_job(job.pk) is None
    assert on_sandbox.requests() == []


def test_cancel_while_running_stops_the_items_not_yet_sent(
    signed_in, operator, on_sandbox, monkeypatch
):
    items = pick(on_sandbox, enabled=True, count=4)
    calls = []

    controls = running._controls

    def cancelling(job, current):
        # The person presses Cancel while the worker is on the second item.
        calls.append(current.id)
        if len(calls) == 2:
            bulk.cancel_job(actor=running.Actor(name="Oscar Operator"), user=operator, job=job)
        return controls(job, current)

    monkeypatch.setattr(running, "_controls", cancelling)
    post(signed_in, items, confirmed="1")
    job = BulkJob.objects.get()
    assert job.status == BulkJob.Status.CANCELLED
    statuses = list(job.items.values_list("status", flat=True))
    # The second was claimed before the cancel landed? No: cancel marks pending ones at once,
    # so the claim of the second finds it cancelled and sends nothing.
    assert statuses == [Item.DONE, Item.CANCELLED, Item.CANCELLED, Item.CANCELLED]
    assert len(writes(on_sandbox)) == 1
    assert "cancelled by Oscar Operator" in job.items.last().message


def test_only_the_starter_or_an_editor_may_cancel(signed_in, on_sandbox, monkeypatch, client):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    post(signed_in, pick(on_sandbox, enabled=True, count=1), confirmed="1")
    job = BulkJob.objects.get()
    other = make_user("olga", "Operator", full_name="Olga Other", api_key="sandbox-key-operator")
    client.force_login(other)
    response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert "Only the person who started this job" in response.content.decode()
    job.refresh_from_db()
    assert job.status == BulkJob.Status.QUEUED


def test_an_item_interrupted_mid_send_is_settled_by_reading_never_resent(
    signed_in, on_sandbox, monkeypatch
):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    items = pick(on_sandbox, enabled=True, count=2)
    post(signed_in, items, confirmed="1")
    job = BulkJob.objects.get()
    first, second = job.items.all()
    # A worker claimed the first and sent it, then died before recording the answer; the
    # second was claimed but never sent.
    on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{items[0]['flow_version_id']}/deployments/{items[0]['id']}/disable",
    )
    long_ago = timezone.now() - running.interrupted_after() * 2
    BulkItem.objects.filter(pk__in=[first.pk, second.pk]).update(
        status=Item.SENDING, attempt_started_at=long_ago
    )
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    on_sandbox.clear_requests()
    assert running.resume_stalled() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Item.DONE and "nothing was sent again" in first.message
    assert second.status == Item.FAILED and "Nothing was sent again" in second.message
    assert writes(on_sandbox) == []
    job.refresh_from_db()
    assert job.status == BulkJob.Status.FINISHED


def test_a_running_job_is_not_taken_by_a_second_worker(signed_in, on_sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    post(signed_in, pick(on_sandbox, enabled=True, count=1), confirmed="1")
    job = BulkJob.objects.get()
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert running.run_job(job.pk) is None
    assert running.resume_stalled() == 0


def test_a_job_costs_one_write_per_item_and_a_read_per_hundred(signed_in, on_sandbox):
    items = pick(on_sandbox, enabled=True, count=12)
    on_sandbox.clear_requests()
    post(signed_in, items, confirmed="1")
    made = on_sandbox.requests()
    assert len([entry for entry in made if entry["method"] == "POST"]) == 12
    reads = [entry for entry in made if entry["method"] == "GET"]
    # The preview's reads and the job's: each pages through the list, 100 at a time.
    assert all("per_page=100" in entry["query"] for entry in reads)
    assert len(reads) < 12


def test_the_jobs_list_shows_newest_first(signed_in, on_sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    post(signed_in, pick(on_sandbox, enabled=True, count=1), confirmed="1")
    post(signed_in, pick(on_sandbox, enabled=False, count=2), action="enable", confirmed="1")
    first, second = BulkJob.objects.order_by("id")
    html = signed_in.get("/jobs/").content.decode()
    assert html.index(f'id="job-{second.pk}"') < html.index(f'id="job-{first.pk}"')
    assert "Enable 2" in html and "Disable 1" in html


# Change control


def test_items_in_a_frozen_environment_fail_and_nothing_is_sent(signed_in, on_sandbox):
    frozen = pick(on_sandbox, enabled=True, count=1, live=True)
    free = pick(on_sandbox, enabled=True, count=1, live=False)
    freeze_now("live")
    on_sandbox.clear_requests()
    post(signed_in, frozen + free, confirmed="1")
    job = BulkJob.objects.get()
    held = job.items.get(deployment_id=str(frozen[0]["id"]))
    assert held.status == Item.FAILED
    assert "freeze window" in held.message
    assert job.items.get(deployment_id=str(free[0]["id"])).status == Item.DONE
    assert writes(on_sandbox) == [
        f"/api/v1/flow-versions/{free[0]['flow_version_id']}/deployments/{free[0]['id']}/disable"
    ]
    refusal = AuditEvent.objects.get(deployment_id=str(frozen[0]["id"]), outcome="refused")
    assert "freeze window" in refusal.message


def test_items_that_need_approval_become_change_requests(signed_in, on_sandbox):
    protected = pick(on_sandbox, enabled=True, count=1, live=True)
    protect("live")
    on_sandbox.clear_requests()
    post(signed_in, protected, confirmed="1")
    job = BulkJob.objects.get()
    item = job.items.get()
    assert (item.status, item.message) == (Item.WAITING, "Waiting for approval.")
    assert writes(on_sandbox) == []
    request = ChangeRequest.objects.get(bulk_job=job)
    assert request.action == "disable"
