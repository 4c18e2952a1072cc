"""The worker page's audit stream section in a real Chromium, axe-clean: one destination
working, one whose folder is missing, in the reader's time zone."""

from __future__ import annotations

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.audit import stream
from tests.browser import sign_in
from tests.browser.test_deployments import assert_accessible, open_page
from tests.factories import actor_for, console_disable


@pytest.mark.browser
def test_an_admin_sees_each_destinations_health_and_lag(page, admin_user, settings, tmp_path):
    working = tmp_path / "stream.jsonl"
    missing = tmp_path / "gone" / "stream.jsonl"
    settings.CONSOLE_AUDIT_KEY = "a-key-for-the-page"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{working}", f"file:{missing}"]
    console_disable(actor_for(admin_user))
    stream.deliver()
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, admin_user)

    open_page(page, "/settings/worker/", "Scheduler")

    rows = page.get_by_role("table", name="Where the audit trail is sent")
    good = rows.get_by_role("row", name=f"the file {working}")
    expect(good).to_contain_text("Working")
    expect(good).to_contain_text("none: up to date")
    bad = rows.get_by_role("row", name=f"the file {missing}")
    expect(bad).to_contain_text("Not reaching it")
    expect(bad).to_contain_text("2 behind")
    expect(bad).to_contain_text(f"The folder of the file {missing} does not exist.")
    assert "GMT+1" in (good.locator("time").get_attribute("title") or "")  # Europe/Paris
    assert_accessible(page, "worker page with the audit stream")
