"""Processes killed mid-write (SIGKILL: no goodbye): the worker in the middle of a bulk job and
of a scheduled change, and the console's gunicorn workers in the middle of a person's change.
Each write hangs in the sandbox, so the kill lands while Patchworks is still making it; after
recovery every attempt has its outcome, found by reading, and nothing was sent twice."""

from __future__ import annotations

import os
import signal
import threading

import requests

from tests.bulk.test_bulk import ids, pick
from tests.faults.checks import assert_consistent, assert_plain, last_attempt
from tests.faults.test_postgresql import report_job
from tests.faults.test_redis import posts


def test_worker_killed_mid_job(faults, sandbox):
    items = pick(sandbox, enabled=True, count=3, live=False)
    since = last_attempt(faults)
    sandbox.set_faults(hang_seconds=3, methods=["POST"], count=1)
    job = faults.harness("bulk", "disable", *ids(items))["job"]
    faults.wait_for(lambda: posts(sandbox), 60, "the first write")

    faults.kill_worker()
    faults.start_worker()

    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 90, "the job")
    assert set(report_job(faults, job)["items"].values()) == {"done"}
    assert_consistent(faults, sandbox, since)


def test_worker_killed_mid_schedule(faults, sandbox):
    [item] = pick(sandbox, enabled=True, count=1, live=False)
    since = last_attempt(faults)
    sandbox.set_faults(hang_seconds=3, methods=["POST"], count=1)
    [change] = faults.harness(
        "schedule", str(item["flow_version_id"]), str(item["id"]), "disable", "1"
    )["ids"]
    faults.wait_for(lambda: posts(sandbox), 60, "the scheduled write")

    faults.kill_worker()
    faults.start_worker()

    def finished() -> dict | None:
        found = faults.harness("report")["changes"][str(change)]
        return found if found["status"] not in ("pending", "applying") else None

    assert faults.wait_for(finished, 90, "the change to settle")["status"] == "applied"
    assert_consistent(faults, sandbox, since)


def test_console_killed_mid_write(faults, sandbox):
    browser = faults.signed_in()
    [item] = pick(sandbox, enabled=False, count=1, live=False)
    since = last_attempt(faults)
    sandbox.set_faults(hang_seconds=3, methods=["POST"], count=1)
    path = f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/"
    answers: list = []

    def change() -> None:
        try:
            answers.append(browser.post(f"{path}enable/", {"reason": "fault test"}))
        except requests.RequestException as error:
            answers.append(error)

    person = threading.Thread(target=change)
    person.start()
    faults.wait_for(lambda: posts(sandbox), 60, "the person's write")
    for pid in faults.console_workers():
        os.kill(pid, signal.SIGKILL)
    person.join(60)
    assert answers and isinstance(answers[0], requests.RequestException)  # the page was cut off

    # gunicorn starts new workers; the worker settles the attempt by reading.
    faults.wait_for(lambda: faults.signed_in(), 30, "the console to answer again")
    assert_consistent(faults, sandbox, since)
    page = browser.get(path)
    assert_plain(page, 200)
    assert "Nothing more was sent to Patchworks" not in page.text


def test_patchworks_busy_and_hanging_during_a_job(faults, sandbox):
    items = pick(sandbox, enabled=True, count=6, live=False)
    since = last_attempt(faults)
    # A 503 window, then a 429, then a write that hangs past the read timeout.
    sandbox.set_faults(error_status=503, methods=["POST"], count=3)
    job = faults.harness("bulk", "disable", *ids(items[:3]))["job"]
    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 90, "the 503 job")
    assert set(report_job(faults, job)["items"].values()) == {"done"}

    sandbox.set_faults(retry_after=2, methods=["POST"], count=1)
    job = faults.harness("bulk", "disable", *ids(items[3:5]))["job"]
    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 60, "the 429 job")
    assert set(report_job(faults, job)["items"].values()) == {"done"}

    sandbox.set_faults(hang_seconds=4, methods=["POST"], count=1)
    job = faults.harness("bulk", "disable", *ids(items[5:]))["job"]
    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 60, "the hang job")
    assert set(report_job(faults, job)["items"].values()) <= {"done", "unknown"}
    assert_consistent(faults, sandbox, since)
