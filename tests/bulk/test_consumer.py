"""A bulk job on a real Huey consumer (`manage.py run_huey` in its own process), killed while one
item's write is in flight: the next consumer takes the job up and never writes that item twice."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.deployments import read_back
from tests.worker.test_consumer import Worker

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def worker(tmp_path, sandbox):
    worker = Worker(tmp_path, sandbox.url, redis=False)
    worker.run("manage.py", "migrate", "--noinput", "-v", "0")
    yield worker
    worker.stop_all()


def status(worker: Worker) -> dict:
    return worker.run("-m", "tests.bulk.harness", "status")


def test_a_consumer_killed_mid_item_never_writes_it_twice(worker, sandbox):
    items = [
        item
        for item in sandbox.api(
            "GET", "/api/v1/flow-version-deployments?filter[global]=0&per_page=100"
        ).json()["data"]
        if item["enabled_at"]
    ][:3]
    hanging = items[1]
    # That item's write hangs, so the kill lands while the consumer waits for Patchworks'
    # answer; the sandbox still makes the change when the hang ends, as a real server may.
    sandbox.set_faults(
        hang_seconds=4, methods=["POST"], path_contains=f"/deployments/{hanging['id']}/", count=1
    )
    first = worker.start()
    pairs = [f"{item['flow_version_id']}:{item['id']}" for item in items]
    worker.run("-m", "tests.bulk.harness", "start", "disable", *pairs)

    def posts(item) -> list[dict]:
        return [
            entry
            for entry in sandbox.requests()
            if entry["method"] == "POST" and f"/deployments/{item['id']}/" in entry["path"]
        ]

    deadline = time.monotonic() + 30
    while not posts(hanging):
        assert time.monotonic() < deadline, f"the write never arrived\n{worker.logs()}"
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    state = status(worker)
    assert [item["status"] for item in state["items"]] == ["done", "sending", "pending"], state

    worker.start()
    deadline = time.monotonic() + 90
    while (state := status(worker))["status"] != "finished":
        assert time.monotonic() < deadline, f"the job was not taken up: {state}\n{worker.logs()}"
        time.sleep(0.5)

    assert [item["status"] for item in state["items"]] == ["done", "done", "done"], state
    assert "nothing was sent again" in state["items"][1]["message"]
    for item in items:
        assert len(posts(item)) == 1, (item["id"], posts(item))
        assert not read_back(sandbox, item)["enabled_at"]
    # Each item's attempt has exactly one outcome, the interrupted one included.
    assert sorted(d for d, _ in state["outcomes"]) == sorted(str(i["id"]) for i in items)
    assert {outcome for _, outcome in state["outcomes"]} == {"succeeded"}
