"""A bulk disable in a real Chromium: tick rows, preview, confirm, watch the job to its end."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.bulk import running
from deployments_ui.bulk import services as bulk
from deployments_ui.models import BulkItem, BulkJob
from tests.browser import sign_in
from tests.browser.test_deployments import assert_accessible, upstream_writes

expect.set_options(timeout=15_000)


@pytest.mark.browser
def test_it_selects_rows_previews_confirms_and_follows_the_job(
    page, operator, on_sandbox, monkeypatch
):
    # The worker is played by this test, after the page is open, so that the page can be seen
    # waiting, then following the job to its end without a reload.
    monkeypatch.setattr(bulk, "enqueue", lambda job: None)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto("/deployments/?scope=no&per_page=10")
    boxes = page.locator('input[name="deployment"][form="bulk-form"]')
    expect(boxes).to_have_count(10)
    for index in range(3):
        boxes.nth(index).check()
    chosen = [boxes.nth(index).get_attribute("value") for index in range(3)]
    bulk_form = page.locator("#bulk-form")
    bulk_form.get_by_label("Change", exact=True).select_option("disable")
    bulk_form.get_by_label(re.compile(r"^Reason")).fill("Supplier maintenance")
    on_sandbox.clear_requests()
    bulk_form.get_by_role("button", name="Preview…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Disable several deployments")
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text(re.compile(r"\d will be disabled"))
    assert_accessible(page, "the preview")
    assert upstream_writes(on_sandbox) == []
    will = int(re.match(r"(\d+) will", summary.inner_text()).group(1))
    page.get_by_label(re.compile(r"^Reason")).fill("Supplier maintenance")
    if will:
        page.get_by_role("button", name=f"Yes, disable {will}").click()
    else:  # every chosen one was already disabled: nothing to confirm
        return

    expect(page.get_by_role("heading", level=2, name="Waiting for the console's scheduler"))
    job = BulkJob.objects.get()
    assert sorted(job.items.values_list("deployment_id", flat=True)) == sorted(
        value.split(":")[1] for value in chosen
    )
    assert page.url.endswith(f"/jobs/{job.pk}/")
    assert_accessible(page, "the job page")
    page.evaluate("window.sameDocument = true")

    running.run_job(job.pk)

    expect(page.get_by_role("heading", level=2, name="Finished")).to_be_visible()
    expect(page.locator("#job-counts")).to_contain_text("3 of 3")
    expect(page.locator("#job-bar")).to_have_attribute("value", "3")
    assert page.evaluate("window.sameDocument") is True  # followed by htmx, not reloaded
    done = job.items.filter(status=BulkItem.Status.DONE).count()
    assert done == will
    assert len(upstream_writes(on_sandbox)) == will
    page.goto("/jobs/")
    expect(page.locator(f"#job-{job.pk}")).to_contain_text("Finished")
    assert_accessible(page, "the jobs list")
