"""A real consumer (`manage.py run_huey`) with a webhook receiver that trickles its answers: the
deliveries wait on it, and a scheduled change due meanwhile is still applied on time."""

from __future__ import annotations

import pytest

from tests.deployments import find_deployment, read_back
from tests.notifications.test_deadline import Trickler
from tests.worker.test_consumer import APPLY_BOUND, Worker

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
DEADLINE = "30"  # seconds each post may take: several of them would hold both consumer threads


@pytest.fixture
def trickler():
    running = Trickler(pace=0.5)
    yield running
    running.stop()


@pytest.fixture
def worker(tmp_path, sandbox, trickler):
    worker = Worker(tmp_path, sandbox.url, redis=False)
    worker.env["CONSOLE_WEBHOOK_ALLOW_HTTP"] = "true"
    worker.env["CONSOLE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    worker.env["CONSOLE_WEBHOOK_TIMEOUT"] = DEADLINE
    worker.run("manage.py", "migrate", "--noinput", "-v", "0")
    worker.run("-m", "tests.notifications.harness", "webhook", trickler.url, "whsec_slow")
    yield worker
    worker.stop_all()


def test_a_trickling_receiver_does_not_make_a_scheduled_change_late(worker, sandbox, trickler):
    # Six deliveries, each nudging the queue: sent by the consumers' own threads, they would
    # hold both of them for a minute and a half.
    worker.run("-m", "tests.notifications.harness", "change", "6")
    item = find_deployment(sandbox, enabled=True)
    worker.start()
    assert trickler.connected.wait(APPLY_BOUND), worker.logs()  # a delivery is under way

    worker.harness("schedule", str(item["flow_version_id"]), str(item["id"]), "disable", "3")
    state = worker.wait_for(
        lambda s: s["changes"][0]["status"] not in ("pending", "applying"),
        APPLY_BOUND,
        "applying the change while the receiver trickles",
    )

    [change] = state["changes"]
    assert change["status"] == "applied", change
    assert change["lateness"] < APPLY_BOUND
    assert not read_back(sandbox, item)["enabled_at"]
