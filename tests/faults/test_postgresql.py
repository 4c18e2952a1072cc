"""PostgreSQL going away (its proxy cut) while a bulk job runs and people use the console:
every page is a plain 503, /readyz fails, nothing is changed, and the job carries on by itself
when the database is back, writing each item once."""

from __future__ import annotations

import time

from tests.bulk.test_bulk import ids, pick
from tests.faults.checks import PLAIN_503, assert_consistent, assert_plain, last_attempt
from tests.faults.stack import Stack

PAGES = ["/deployments/", "/jobs/", "/audit/", "/schedules/", "/settings/worker/"]


def report_job(stack: Stack, job: int) -> dict:
    return stack.harness("report")["jobs"][str(job)]


def test_postgresql_cut_mid_job(faults, sandbox):
    browser = faults.signed_in()
    assert browser.get("/deployments/").status_code == 200
    items = pick(sandbox, enabled=True, count=6, live=False)
    untouched = pick(sandbox, enabled=False, count=1, live=False)[0]
    since = last_attempt(faults)
    sandbox.set_faults(latency_ms=600, methods=["POST"])  # slow enough to be cut mid-way
    job = faults.harness("bulk", "disable", *ids(items))["job"]
    faults.wait_for(lambda: [e for e in sandbox.requests() if e["method"] == "POST"], 60, "a write")

    faults.postgresql.cut()
    for path in PAGES:
        page = browser.get(path)
        assert_plain(page, 503)
        assert PLAIN_503 in page.text and "nothing was changed" in page.text, path
    assert browser.get("/readyz").status_code == 503
    change = browser.post(
        f"/flow-versions/{untouched['flow_version_id']}/deployments/{untouched['id']}/enable/",
        {"reason": "during the outage"},
    )
    assert_plain(change, 503)
    assert "nothing was sent to Patchworks" in change.text
    time.sleep(3)
    faults.postgresql.restore()
    back = time.monotonic()

    faults.wait_for(lambda: report_job(faults, job)["status"] == "finished", 60, "the job")
    print(f"job finished {time.monotonic() - back:.1f} s after PostgreSQL came back")
    assert set(report_job(faults, job)["items"].values()) == {"done"}
    assert f"Bulk job {job} carries on: the database answers again" in faults.logs(tail=10**7)
    assert browser.get("/deployments/").status_code == 200
    assert browser.get("/readyz").status_code == 200
    sandbox.clear_faults()
    report = assert_consistent(faults, sandbox, since)
    assert not [a for a in report["attempts"] if a["deployment"] == str(untouched["id"])]
