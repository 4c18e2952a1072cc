"""The demo tester in a real Chromium: an Operator in test environments, a Viewer in live ones."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.accounts.models import RoleScope
from tests.browser import sign_in
from tests.browser.test_deployments import (
    _confirm,
    assert_accessible,
    detail_url,
    find_deployment,
    list_url_for,
    stored,
    upstream_writes,
)
from tests.factories import make_user

expect.set_options(timeout=15_000)


@pytest.fixture
def tester(roles):
    user = make_user("tess", "Viewer", full_name="Tess Tester", api_key="sandbox-key-tester")
    RoleScope.objects.create(user=user, role="Operator", environment_type="test")
    RoleScope.objects.create(user=user, role="Viewer", environment_type="live")
    return user


@pytest.mark.browser
def test_the_tester_switches_test_deployments_and_only_watches_live_ones(page, tester, on_sandbox):
    page.context.add_init_script(AXE_SCRIPT)
    in_test = find_deployment(on_sandbox, environment_type="test", enabled=True)
    in_live = find_deployment(on_sandbox, environment_type="live", enabled=True)
    sign_in(page, tester)

    # A live row: its state, no button.
    page.goto(list_url_for(in_live))
    live_row = page.locator(f"#deployment-row-{in_live['id']}")
    expect(live_row).to_contain_text("● Enabled")
    expect(live_row.get_by_role("button")).to_have_count(0)
    assert_accessible(page, "the list as the tester")

    # The live deployment's page: no Disable, no Schedule, no Edit.
    page.goto(detail_url(in_live))
    expect(page.get_by_text("Enabled — runs on its schedule")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Disable "))).to_have_count(0)
    expect(page.get_by_role("link", name="Schedule a change…")).to_have_count(0)
    assert_accessible(page, "a live deployment as the tester")

    # A test row: disabled in place, after the confirmation.
    page.goto(list_url_for(in_test))
    row = page.locator(f"#deployment-row-{in_test['id']}")
    on_sandbox.clear_requests()
    _confirm(page, row, action="disable", item=in_test, reason="Browser test: tester")
    expect(row).to_contain_text("○ Disabled")
    expect(page.locator("#toasts")).to_contain_text("is now disabled")
    assert [w["method"] for w in upstream_writes(on_sandbox)] == ["POST"]
    assert stored(on_sandbox, in_test).json()["data"]["enabled_at"] is None
    assert stored(on_sandbox, in_live).json()["data"]["enabled_at"] is not None


@pytest.mark.browser
def test_an_admin_gives_the_tester_a_role_in_global_deployments(page, tester, on_sandbox):
    page.context.add_init_script(AXE_SCRIPT)
    admin = make_user("adam", "Admin", full_name="Adam Admin", api_key="sandbox-key-admin")
    sign_in(page, admin)
    page.goto("/settings/people/")
    assert_accessible(page, "people and their roles")
    page.get_by_role("link", name="Edit roles of tess").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tess Tester")
    expect(page.get_by_role("row", name=re.compile("Operator test environments"))).to_be_visible()
    assert_accessible(page, "a person's roles")
    page.get_by_label("Role:", exact=True).select_option("Editor")
    page.get_by_label("global deployments (no environment)").check()
    page.get_by_role("button", name="Give the role").click()
    expect(page.locator("#messages")).to_contain_text("tess is now Editor in global deployments")
    assert RoleScope.objects.filter(user=tester, role="Editor", environment_type="global").exists()
