"""Scheduling a change in a real Chromium: ask in the row's dialog, see the badge, cancel it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.models import AuditEvent, ScheduledChange
from tests.browser import sign_in
from tests.browser.test_deployments import (
    assert_accessible,
    find_deployment,
    list_url_for,
    upstream_writes,
)

expect.set_options(timeout=10_000)
BROWSER_ZONE = ZoneInfo("Europe/Paris")  # the page fixture's browser time zone


@pytest.mark.browser
def test_it_schedules_a_disable_shows_the_badge_and_cancels_it(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="live", enabled=True)
    tomorrow = datetime.now(BROWSER_ZONE).date() + timedelta(days=1)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto(list_url_for(item))
    row = page.locator(f"#deployment-row-{item['id']}")
    on_sandbox.clear_requests()

    row.get_by_role("button", name=re.compile(r"^Disable ")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("At…").check()
    expect(dialog.get_by_text("Europe/Paris")).to_be_visible()
    dialog.get_by_label(re.compile(r"^Time")).fill(f"{tomorrow.isoformat()}T18:00")
    assert_accessible(page, "the dialog with a time")
    dialog.get_by_label(re.compile(r"^Reason")).fill("Supplier maintenance")
    dialog.get_by_role("button", name="Yes, schedule it").click()

    badge = f"Disables at {tomorrow.day} {tomorrow:%b} 18:00 (asked by Oscar Operator)"
    expect(row.get_by_text(badge)).to_be_visible()
    expect(row.get_by_text("● Enabled")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Scheduled for ")
    assert upstream_writes(on_sandbox) == []
    change = ScheduledChange.objects.get()
    assert change.due_at == datetime.combine(tomorrow, datetime.min.time(), BROWSER_ZONE).replace(
        hour=18
    )
    assert change.time_zone == "Europe/Paris"

    page.goto("/schedules/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scheduled changes")
    assert_accessible(page, "the schedules page")
    upcoming = page.locator(f"#schedule-{change.pk}")
    expect(upcoming).to_contain_text("Supplier maintenance")
    upcoming.get_by_text("Cancel…").click()
    upcoming.get_by_role("button", name="Yes, cancel this change").click()

    expect(page.get_by_text("Nothing is scheduled.")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Cancelled the disable due")
    change.refresh_from_db()
    assert change.status == ScheduledChange.Status.CANCELLED
    assert AuditEvent.objects.filter(action="unschedule").count() == 1
    page.goto(list_url_for(item))
    expect(row.get_by_text(badge)).to_have_count(0)


@pytest.mark.browser
def test_it_schedules_off_until_on_the_form_page_and_moves_the_re_enable(
    page, operator, on_sandbox
):
    item = find_deployment(on_sandbox, environment_type="test", enabled=True)
    tomorrow = datetime.now(BROWSER_ZONE).date() + timedelta(days=1)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto(f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/")
    on_sandbox.clear_requests()

    page.get_by_role("link", name="Schedule a change…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Schedule a change to")
    expect(page.locator("main")).to_contain_text("Times are in Europe/Paris")
    assert_accessible(page, "the schedule form")
    page.get_by_label("Disable", exact=True).check()
    page.get_by_label("Until (disable only)").fill(f"{tomorrow.isoformat()}T07:30")
    page.get_by_role("button", name="Schedule it").click()

    expect(page.get_by_text("Disabled — will not run")).to_be_visible()
    badge = f"Enables at {tomorrow.day} {tomorrow:%b} 07:30 (asked by Oscar Operator)"
    expect(page.get_by_text(badge)).to_be_visible()
    assert [w["path"].rsplit("/", 1)[-1] for w in upstream_writes(on_sandbox)] == ["disable"]

    page.get_by_role("link", name="Move…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Move the enable of")
    assert_accessible(page, "the move form")
    page.get_by_label("New time").fill(f"{tomorrow.isoformat()}T09:15")
    page.get_by_role("button", name="Move it").click()

    expect(page.get_by_text(badge.replace("07:30", "09:15"))).to_be_visible()
    change = ScheduledChange.objects.get()
    assert timezone_hour(change.due_at) == (9, 15)
    assert AuditEvent.objects.filter(action="reschedule").count() == 1


def timezone_hour(value: datetime) -> tuple[int, int]:
    local = value.astimezone(BROWSER_ZONE)
    return local.hour, local.minute
