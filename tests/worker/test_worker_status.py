"""The periodic work in Huey's immediate mode, the worker page for admins, and /readyz."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui.core import leases
from deployments_ui.models import SyncLease
from deployments_ui.worker import status
from deployments_ui.worker.tasks import every_minute, housekeeping

pytestmark = pytest.mark.django_db


def test_the_minute_task_writes_a_heartbeat_and_claims_its_work_once(settings):
    settings.CONSOLE_SERVICE_API_KEY = ""
    assert not status.worker_seen()
    every_minute()
    assert status.worker_seen()
    claimed = SyncLease.objects.get(name="periodic:schedule-polls").completed_at
    every_minute()  # a second consumer firing the same minute
    assert SyncLease.objects.get(name="periodic:schedule-polls").completed_at == claimed


def test_a_heartbeat_older_than_two_minutes_is_not_seen():
    leases.beat(status.HEARTBEAT, "host:1", now=timezone.now() - timedelta(minutes=3))
    assert not status.worker_seen()


def test_housekeeping_clears_expired_sessions():
    from django.contrib.sessions.models import Session

    Session.objects.create(
        session_key="x" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1)
    )
    housekeeping()
    assert not Session.objects.exists()


def test_admins_see_the_workers_health(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/settings/worker/").content.decode()
    assert "No worker seen in the last 2 minutes" in html
    status.beat("host:42")
    html = client.get("/settings/worker/").content.decode()
    assert "Running: a worker was seen" in html
    assert "host:42" in html
    assert "Tasks waiting" in html


def test_operators_cannot_see_the_worker_page(client, operator):
    client.force_login(operator)
    assert client.get("/settings/worker/").status_code == 403


def test_readyz_reports_the_worker_without_failing_for_it(client, on_sandbox):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["worker"] == {"seen_in_last_two_minutes": False}
    status.beat("host:1")
    assert client.get("/readyz").json()["worker"] == {"seen_in_last_two_minutes": True}
