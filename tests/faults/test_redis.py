"""Redis going away (its proxy cut) while a bulk job runs: pages keep answering, the job pauses
instead of failing its items, and carries on by itself when Redis is back; each item is
written once."""

from __future__ import annotations

import time

from tests.bulk.test_bulk import ids, pick
from tests.faults.checks import assert_consistent, assert_plain, last_attempt
from tests.faults.test_postgresql import report_job


def posts(sandbox) -> int:
    return len([entry for entry in sandbox.requests() if entry["method"] == "POST"])


def test_redis_cut_mid_job(faults, sandbox):
    browser = faults.signed_in()
    items = pick(sandbox, enabled=True, count=6, live=False)
    since = last_attempt(faults)
    sandbox.set_faults(latency_ms=500, methods=["POST"])
    job = faults.harness("bulk", "disable", *ids(items))["job"]
    faults.wait_for(lambda: posts(sandbox), 60, "a write")

    faults.redis.cut()
    for path in ("/deployments/", f"/jobs/{job}/", "/audit/", "/readyz"):
        assert_plain(browser.get(path), 200)
    time.sleep(2)  # the write in flight ends; then the job waits for Redis
    paused_at = posts(sandbox)
    time.sleep(3)
    assert posts(sandbox) == paused_at, "the job went on without the shared budget"
    assert report_job(faults, job)["status"] == "running"
    assert "failed" not in report_job(faults, job)["items"].values()
    faults.redis.restore()

    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 90, "the job")
    assert set(report_job(faults, job)["items"].values()) == {"done"}
    sandbox.clear_faults()
    assert_consistent(faults, sandbox, since)
