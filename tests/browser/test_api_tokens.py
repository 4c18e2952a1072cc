"""A person makes a token for a script on their own page, copies it once, the script uses it,
and the person revokes it."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.models import ApiToken
from tests.browser import sign_in
from tests.browser.test_deployments import assert_accessible

expect.set_options(timeout=15_000)


@pytest.mark.browser
def test_a_person_makes_uses_and_revokes_a_token(page, operator, on_sandbox):
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, operator)
    page.goto("/account/api-key/")
    page.locator("#main").get_by_role("link", name="My API tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My API tokens")
    assert_accessible(page, "My API tokens")

    page.get_by_label("Name").fill("nightly maintenance")
    page.get_by_label("Read only").check()
    page.get_by_role("button", name="Make the token").click()
    expect(page.get_by_role("heading", name="Your new token 'nightly maintenance'")).to_be_visible()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert re.fullmatch(r"cpt_[A-Za-z0-9_-]{40,}", secret)
    assert_accessible(page, "the new token, shown once")

    answer = page.request.get("/api/v1/audit", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status == 200

    page.goto("/account/tokens/")
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)  # shown only once
    rows = page.get_by_role("row").filter(has_text="nightly maintenance")
    expect(rows).to_contain_text("Read only")
    rows.get_by_role("link", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke the token")
    assert_accessible(page, "revoking a token")
    page.get_by_role("button", name="Yes, revoke it").click()
    expect(page.get_by_text("is revoked: it no longer works")).to_be_visible()
    expect(rows).to_contain_text("Revoked")
    assert ApiToken.objects.get().revoked_at is not None

    refused = page.request.get("/api/v1/audit", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
