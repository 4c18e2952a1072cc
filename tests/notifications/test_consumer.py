"""A real Huey consumer (`manage.py run_huey`) delivering webhooks to a local receiver: soon after
the change, signed, and, when no consumer ran, as soon as one starts (delayed, never dropped)."""

from __future__ import annotations

import time

import pytest

from deployments_ui.notifications import receiver as receivers
from tests.notifications.test_delivery import verify
from tests.worker.test_consumer import Worker

SECRET = "whsec_consumer-test"
BOUND = 30.0  # seconds: far above what it takes, to stay clear of a busy machine

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def receiver():
    running = receivers.start()
    yield running
    running.stop()


@pytest.fixture
def worker(tmp_path, receiver):
    worker = Worker(tmp_path, "http://127.0.0.1:9", redis=False)
    worker.env["CONSOLE_WEBHOOK_ALLOW_HTTP"] = "true"
    worker.env["CONSOLE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    worker.run("manage.py", "migrate", "--noinput", "-v", "0")
    worker.run("-m", "tests.notifications.harness", "webhook", receiver.url + "hook", SECRET)
    yield worker
    worker.stop_all()


def wait_for(receiver, count: int, worker: Worker) -> None:
    deadline = time.monotonic() + BOUND
    while len(receiver.received) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(receiver.received)}/{count} received\n{worker.logs()}")
        time.sleep(0.1)


def test_a_change_reaches_the_receiver_signed(worker, receiver):
    worker.start()
    [event_id] = worker.run("-m", "tests.notifications.harness", "change", "1")["ids"]

    wait_for(receiver, 1, worker)

    got = receiver.received[0]
    assert got.path == "/hook"
    assert got.headers["X-Console-Event-Id"] == str(event_id)
    assert verify(SECRET, got.headers, got.body)
    assert got.json()["summary"].startswith("Ana Ops disabled Orders")
    status = worker.run("-m", "tests.notifications.harness", "status")
    assert status["deliveries"] == [{"event_id": event_id, "status": "delivered", "attempts": 1}]


def test_a_down_worker_delays_delivery_and_never_drops_it(worker, receiver):
    ids = worker.run("-m", "tests.notifications.harness", "change", "3")["ids"]
    time.sleep(1)
    assert receiver.received == []  # no consumer: they wait in the outbox

    worker.start()
    wait_for(receiver, 3, worker)
    assert sorted(int(r.headers["X-Console-Event-Id"]) for r in receiver.received) == ids
