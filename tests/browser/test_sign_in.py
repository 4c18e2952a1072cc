"""In a real Chromium: sign in, save my API key, sign out; an admin sets the service key."""

from __future__ import annotations

import re

import pytest

from tests.browser import sign_in
from tests.factories import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_sign_in_save_a_key_and_sign_out(page, roles, on_sandbox):
    from playwright.sync_api import expect

    person = make_user("val", "Viewer", full_name="Val Viewer")

    sign_in(page, person)
    # Without a key the deployments cannot be shown: the console says so and where to go.
    expect(page).to_have_url(re.compile(r"/account/api-key/$"))
    expect(page.get_by_text("the console needs your Patchworks API key")).to_be_visible()
    expect(page.get_by_text("You have not saved a key yet")).to_be_visible()

    key_field = page.get_by_label("Your Patchworks API key")
    expect(key_field).to_have_attribute("type", "password")
    key_field.fill("sandbox-key-viewer")
    page.get_by_role("button", name="Check and save").click()

    expect(page.get_by_text("A key ending in")).to_contain_text("ewer")
    expect(page.get_by_text("Patchworks accepted your key")).to_be_visible()
    assert "sandbox-key-viewer" not in page.content()
    expect(page.get_by_label("Your Patchworks API key")).to_have_value("")

    page.get_by_role("link", name="All deployments").click()
    expect(page).to_have_url(re.compile(r"/deployments/"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_text("You have signed out")).to_be_visible()
    page.goto("/account/api-key/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))


def test_a_wrong_password_then_the_right_one(page, roles):
    from playwright.sync_api import expect

    make_user("wes", "Viewer", full_name="Wes Viewer", api_key="sandbox-key-viewer")

    page.goto("/accounts/login/?next=/account/api-key/")
    page.get_by_label("Username").fill("wes")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/api-key/$"))
    expect(page.get_by_text("A key ending in")).to_contain_text("ewer")
    expect(page.get_by_text("Signed in as")).to_contain_text("Wes Viewer")


def test_an_admin_sets_the_service_key_and_drift_detection_uses_it(
    page, roles, on_sandbox, settings
):
    from axe_playwright_python.base import AXE_SCRIPT, AxeResults
    from playwright.sync_api import expect

    from deployments_ui.drift import sync as drift

    settings.CONSOLE_SERVICE_API_KEY = ""
    admin = make_user("ada", "Admin", full_name="Ada Admin", api_key="sandbox-key-admin")
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, admin)
    page.get_by_role("link", name="Service key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Service key")
    expect(
        page.get_by_text(
            "No service key is set, so the check for changes made outside the console cannot run."
        )
    ).to_be_visible()
    axe = AxeResults(page.evaluate("() => axe.run(document, {resultTypes: ['violations']})"))
    assert axe.violations_count == 0, axe.generate_report()

    page.get_by_label("The service's Patchworks API key").fill("sandbox-key-service")
    page.get_by_role("button", name="Check and save").click()
    expect(page.get_by_text("Patchworks accepted the service key")).to_be_visible()
    expect(page.get_by_text("A key ending in")).to_contain_text("vice")
    expect(page.get_by_text("A key ending in")).to_contain_text("by Ada Admin")
    assert "sandbox-key-service" not in page.content()

    assert drift.sync_deployments(min_interval=0).baseline  # with the key saved on the page
    page.reload()
    expect(page.get_by_text("Last completed a check")).to_be_visible()

    page.get_by_role("button", name="Remove the service key").click()
    expect(page.get_by_role("alert")).to_contain_text("Remove the service key?")
    page.get_by_role("button", name="Yes, remove the service key").click()
    expect(page.get_by_text("The service key is removed from the console.")).to_be_visible()
    expect(page.get_by_text("No service key is set")).to_be_visible()
