"""Flow health in a real Chromium: disable a deployment from its row and see why it stopped
running, and the marks, runs and snapshot pass axe-core in light and dark."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.models import AuditEvent
from tests.browser import sign_in
from tests.browser.test_deployments import (
    assert_accessible,
    assert_no_full_load,
    detail_url,
    find_deployment,
    list_url_for,
    mark_page,
)

expect.set_options(timeout=10_000)


@pytest.mark.browser
def test_disabling_a_deployment_shows_who_stopped_it_and_why_on_its_row(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="test", enabled=True)
    sign_in(page, operator)
    page.goto(list_url_for(item))
    row = page.locator(f"#deployment-row-{item['id']}")
    mark = row.locator(".health")
    expect(mark).to_contain_text(re.compile(r"Flow health: (Running|Failing|Not run|No recent)"))
    mark_page(page)

    row.get_by_role("button", name=re.compile(r"^Disable ")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
    dialog.get_by_role("button", name="Yes, disable it").click()

    expect(row).to_contain_text("○ Disabled")
    expect(mark).to_have_text(
        "■ Flow health: Not run since Oscar Operator disabled it just now: supplier outage"
    )
    assert_no_full_load(page)
    page.reload()  # a fresh read of the runs says the same
    expect(page.locator(f"#deployment-row-{item['id']} .health")).to_contain_text(
        re.compile(r"Not run since Oscar Operator disabled it (just now|1 minute ago): supplier")
    )


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_marks_runs_and_snapshot_pass_axe(page, operator, on_sandbox, scheme):
    item = find_deployment(on_sandbox, environment_type="test", enabled=True)
    page.emulate_media(color_scheme=scheme)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto("/deployments/?per_page=100")
    expect(page.locator(".health-not-run").first).to_be_visible()
    assert_accessible(page, f"list with health marks ({scheme})")
    failing = page.locator("tr", has=page.locator(".health-failing")).first
    if failing.count():
        failing.get_by_role("link").first.click()
        expect(page.get_by_role("heading", name="How its flow is running")).to_be_visible()
        assert_accessible(page, f"detail page of a failing deployment ({scheme})")
    page.goto(detail_url(item))
    expect(page.get_by_role("heading", name="How its flow is running")).to_be_visible()
    assert_accessible(page, f"detail page with runs ({scheme})")
    page.locator("#deployment-panel, main").get_by_role(
        "button", name=re.compile(r"^Disable ")
    ).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(re.compile(r"^Reason")).fill("axe check")
    dialog.get_by_role("button", name="Yes, disable it").click()
    expect(page.get_by_text("Disabled — will not run")).to_be_visible()
    event = AuditEvent.objects.filter(action="disable", reason="axe check").order_by("id").first()
    assert event is not None and "flow_health" in event.after
    page.goto(f"/audit/{event.pk}/")
    expect(page.get_by_role("heading", name="How its flow was running at the time")).to_be_visible()
    assert_accessible(page, f"audit event with the flow's health ({scheme})")
