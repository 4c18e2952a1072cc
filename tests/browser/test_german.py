"""The console in German in a real Chromium: chosen in the menu, kept from page to page, and a
deployment enabled and disabled from its row with every word of the way in German."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Page, expect

from deployments_ui.audit.models import AuditEvent
from tests.browser import sign_in
from tests.browser.test_deployments import find_deployment, list_url_for, stored

expect.set_options(timeout=10_000)


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(page.evaluate("axe.run(document, {resultTypes: ['violations']})"))
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


@pytest.mark.browser
def test_a_german_reader_enables_and_disables_from_a_row(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="live", enabled=False)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto(list_url_for(item))

    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_label("Sprache")).to_have_value("de")
    assert_accessible(page, "the German list")

    row = page.locator(f"#deployment-row-{item['id']}")
    row.get_by_role("button", name=re.compile(r"^Aktivieren ")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Live-Umgebung")
    dialog.get_by_label(re.compile(r"^Grund")).fill("Browsertest: einschalten")
    dialog.get_by_role("button", name="Ja, aktivieren").click()
    expect(page.locator("#toasts")).to_contain_text("ist jetzt aktiviert")
    expect(row.get_by_role("button", name=re.compile(r"^Deaktivieren "))).to_be_focused()
    assert stored(on_sandbox, item).json()["data"]["enabled_at"]

    row.get_by_role("button", name=re.compile(r"^Deaktivieren ")).click()
    dialog.get_by_label(re.compile(r"^Grund")).fill("Browsertest: ausschalten")
    dialog.get_by_role("button", name="Ja, deaktivieren").click()
    expect(page.locator("#toasts")).to_contain_text("ist jetzt deaktiviert")
    assert stored(on_sandbox, item).json()["data"]["enabled_at"] is None

    # The trail reads German here, and keeps the console's own language in what it stores.
    page.goto("/audit/")
    expect(page.locator("main")).to_contain_text("deaktiviert")
    assert AuditEvent.objects.filter(reason="Browsertest: ausschalten").exists()
    assert_accessible(page, "the German audit log")

    # The choice stays until it is changed back.
    page.get_by_label("Sprache").select_option("en-gb")
    page.get_by_role("button", name="Wechseln").click()
    expect(page.locator("html")).to_have_attribute("lang", "en-gb")
