"""Bulk jobs when something goes away: the console's database (the job waits for it and carries
on, never writing an item twice), and the job page saying when a quiet job carries on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from deployments_ui.bulk import running
from deployments_ui.bulk import services as bulk
from deployments_ui.models import BulkItem, BulkJob
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
