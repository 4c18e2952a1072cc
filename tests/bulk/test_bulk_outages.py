"""Bulk jobs when something goes away: the console's database (the job waits for it and carries
on, never writing an item twice), and the job page saying when a quiet job carries on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from deployments_ui.bulk import running
from deployments_ui.bulk import services as bulk
from deployments_ui.models import AuditEvent, BulkItem, BulkJob
from tests.bulk.test_bulk import ids, pick, writes

pytestmark = pytest.mark.django_db
Item = BulkItem.Status


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def start(client, items, action="disable"):
    data = {"action": action, "reason": "supplier maintenance", "deployment": ids(items)}
    client.post("/deployments/bulk/", {**data, "confirmed": "1"})
    return BulkJob.objects.get()


def test_a_job_whose_database_goes_away_waits_and_carries_on(signed_in, on_sandbox, monkeypatch):
    items = pick(on_sandbox, enabled=True, count=3, live=False)
    controls, calls, waits = running._controls, [], []

    def database_lost_once(job, current):
        calls.append(current.id)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return controls(job, current)

    def wait_for_database(**kwargs):
        waits.append(kwargs)
        return True

    monkeypatch.setattr(running, "_controls", database_lost_once)
    monkeypatch.setattr(running.database, "wait_for_database", wait_for_database)
    on_sandbox.clear_requests()

    job = start(signed_in, items)

    assert len(waits) == 1
    assert job.status == BulkJob.Status.FINISHED
    assert list(job.items.values_list("status", flat=True)) == [Item.DONE] * 3
    assert sorted(writes(on_sandbox)) == sorted(
        f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable"
        for item in items
    )


def test_a_job_whose_database_stays_away_is_left_for_later(signed_in, on_sandbox, monkeypatch):
    items = pick(on_sandbox, enabled=True, count=2, live=False)

    def database_lost(job, current):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(running, "_controls", database_lost)
    monkeypatch.setattr(running.database, "wait_for_database", lambda **kwargs: False)

    job = start(signed_in, items)

    # Not failed: still running, its items waiting, taken up again once the database is back.
    assert job.status == BulkJob.Status.RUNNING
    assert set(job.items.values_list("status", flat=True)) == {Item.PENDING}
    assert writes(on_sandbox) == []


def test_a_job_taken_up_by_another_worker_meanwhile_is_left_to_it(
    signed_in, on_sandbox, monkeypatch
):
    items = pick(on_sandbox, enabled=True, count=2, live=False)

    def database_lost(job, current):
        raise OperationalError("could not connect to server")

    def another_worker_took_it(**kwargs):
        BulkJob.objects.update(heartbeat_at=timezone.now() + timedelta(seconds=1))
        return True

    monkeypatch.setattr(running, "_controls", database_lost)
    monkeypatch.setattr(running.database, "wait_for_database", another_worker_took_it)

    job = start(signed_in, items)

    assert job.status == BulkJob.Status.RUNNING
    assert writes(on_sandbox) == []


def test_the_job_page_says_when_a_quiet_job_carries_on(signed_in, on_sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    job = start(signed_in, pick(on_sandbox, enabled=True, count=1, live=False))
    quiet_since = timezone.now() - timedelta(seconds=20)
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, started_at=quiet_since, heartbeat_at=quiet_since
    )
    job.refresh_from_db()

    pause = running.pause_of(job)
    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()

    assert pause is not None
    assert pause.resumes_by > timezone.now()
    assert pause.resumes_by - quiet_since <= running.interrupted_after() + running.RESUME_EVERY
    resumes = timezone.localtime(pause.resumes_by).strftime("%H:%M:%S")
    assert "Paused: the worker has not reported on this job since" in html
    assert f"carries on by itself by {resumes}" in html


def test_a_job_that_reports_is_not_shown_paused(signed_in, on_sandbox, monkeypatch):
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    job = start(signed_in, pick(on_sandbox, enabled=True, count=1, live=False))
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, heartbeat_at=timezone.now()
    )

    assert "Paused:" not in signed_in.get(f"/jobs/{job.pk}/").content.decode()


# Patchworks busy: 429 and 503 pause the job instead of failing the item -----------------------


def write_statuses(sandbox) -> list[tuple[str, int]]:
    return [
        (entry["path"].rsplit("/", 2)[-2], entry["status"])
        for entry in sandbox.requests()
        if entry["method"] == "POST"
    ]


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(running.pausing, "FIRST_WAIT", 0.05)
    monkeypatch.setattr(running.pausing, "LONGEST_WAIT", 0.1)
    monkeypatch.setattr(running.pausing, "UNAVAILABLE_PATIENCE", 0.5)


def test_a_429_makes_the_item_wait_and_go_again(signed_in, on_sandbox, quick_backoff):
    items = pick(on_sandbox, enabled=True, count=2, live=False)
    on_sandbox.set_faults(retry_after=1, methods=["POST"], count=1)
    on_sandbox.clear_requests()

    job = start(signed_in, items)

    assert list(job.items.values_list("status", flat=True)) == [Item.DONE, Item.DONE]
    first = str(items[0]["id"])
    assert write_statuses(on_sandbox) == [
        (first, 429),
        (first, 200),
        (str(items[1]["id"]), 200),
    ]
    # Each try is its own attempt with its own outcome.
    outcomes = AuditEvent.objects.filter(deployment_id=first, completes__isnull=False)
    assert list(outcomes.order_by("id").values_list("outcome", flat=True)) == [
        "failed",
        "succeeded",
    ]


def test_a_short_503_window_pauses_the_job_and_every_item_is_done(
    signed_in, on_sandbox, quick_backoff
):
    items = pick(on_sandbox, enabled=True, count=3, live=False)
    on_sandbox.set_faults(error_status=503, methods=["POST"], count=2)
    on_sandbox.clear_requests()

    job = start(signed_in, items)

    assert list(job.items.values_list("status", flat=True)) == [Item.DONE] * 3
    statuses = write_statuses(on_sandbox)
    assert [status for _, status in statuses] == [503, 503, 200, 200, 200]
    assert sorted(d for d, status in statuses if status == 200) == sorted(
        str(item["id"]) for item in items
    )


def test_patchworks_unavailable_for_too_long_fails_the_items(signed_in, on_sandbox, quick_backoff):
    items = pick(on_sandbox, enabled=True, count=2, live=False)
    on_sandbox.set_faults(error_status=503, methods=["POST"])
    on_sandbox.clear_requests()

    job = start(signed_in, items)

    assert job.status == BulkJob.Status.FINISHED
    assert list(job.items.values_list("status", flat=True)) == [Item.FAILED] * 2
    assert "not answering properly" in job.items.first().message
    assert all(status == 503 for _, status in write_statuses(on_sandbox))


def test_a_busy_read_pauses_the_job_too(
    signed_in, on_sandbox, quick_backoff, settings, monkeypatch
):
    settings.PATCHWORKS_GET_RETRIES = 0
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    job = start(signed_in, pick(on_sandbox, enabled=True, count=2, live=False))
    on_sandbox.set_faults(error_status=503, methods=["GET"], count=1)
    on_sandbox.clear_requests()

    running.run_job(job.pk)

    assert list(job.items.values_list("status", flat=True)) == [Item.DONE] * 2
    reads = [entry["status"] for entry in on_sandbox.requests() if entry["method"] == "GET"]
    assert reads[0] == 503 and len(reads) == 2


def test_a_queue_out_of_reach_leaves_the_job_queued_for_later(signed_in, on_sandbox, monkeypatch):
    import redis

    from deployments_ui.bulk import tasks

    def redis_away(job_id):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(tasks, "run_bulk_job", redis_away)
    items = pick(on_sandbox, enabled=True, count=1, live=False)
    data = {"action": "disable", "reason": "r", "deployment": ids(items), "confirmed": "1"}

    response = signed_in.post("/deployments/bulk/", data)

    assert response.status_code == 303
    assert BulkJob.objects.get().status == BulkJob.Status.QUEUED  # resume_stalled takes it up
