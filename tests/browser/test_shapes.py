"""The main journeys in a real Chromium, once for every response shape the sandbox answers in.

The truth about each target is read while the sandbox answers in its default shape (which
carries every name); then it switches shape and the console must show the same names, numbers
and live warning, and report the same outcomes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser import sign_in
from tests.sandbox_fixtures import SHAPES

expect.set_options(timeout=10_000)
NEVER_DEPLOYED_FLOW = "Nightly order reconciliation"  # sandbox/demo.py
UK_TEST = "UK Test (test)"


@pytest.fixture(params=SHAPES)
def shape(request) -> str:
    return request.param


def live_disabled(sandbox) -> dict:
    environments = sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments"
    ).json()["data"]
    live = {env["id"]: env for env in environments if env["type"] == "live"}
    listing = sandbox.api(
        "GET",
        "/api/v1/flow-version-deployments",
        params={"per_page": 100, "include": "flowVersion"},
    ).json()["data"]
    item = next(d for d in listing if d["virtual_environment_id"] in live and not d["enabled_at"])
    return {**item, "environment": live[item["virtual_environment_id"]]}


def detail_url(item: dict) -> str:
    return f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/"


def enabled_at(sandbox, item: dict):
    sandbox.set_shape(None)
    body = sandbox.api("GET", f"/api/v1{detail_url(item)}".rstrip("/")).json()
    return body["data"]["enabled_at"]


def confirm(page: Page, container, action: str, item: dict) -> None:
    container.get_by_role("button", name=re.compile(rf"^{action.capitalize()} ")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(
        f"{action.capitalize()} {item['name']} version {item['flow_version_iteration']}"
    )
    expect(dialog).to_contain_text("This is a live environment.")
    dialog.get_by_label(re.compile(r"^Reason")).fill(f"Browser test: {action}")
    dialog.get_by_role("button", name=f"Yes, {action} it").click()


@pytest.mark.browser
def test_list_detail_enable_and_disable_with_the_live_warning(page, operator, on_sandbox, shape):
    item = live_disabled(on_sandbox)
    on_sandbox.set_shape(shape)
    sign_in(page, operator)
    page.goto(
        f"/deployments/?environment={item['virtual_environment_id']}&name={quote(item['name'])}"
    )
    row = page.locator(f"#deployment-row-{item['id']}")
    expect(row).to_contain_text(f"version {item['flow_version_iteration']}")
    expect(row.locator(".badge-live")).to_be_visible()
    expect(page.get_by_text("not available")).to_have_count(0)
    row.get_by_role("link", name=item["name"]).click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"{item['name']} version {item['flow_version_iteration']}")
    expect(page.get_by_text(f"{item['environment']['name']} — a live environment")).to_be_visible()
    panel = page.locator(f"#deployment-panel-{item['id']}")
    confirm(page, panel, "enable", item)
    expect(panel.get_by_text("Enabled — runs on its schedule")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("is now enabled")
    confirm(page, panel, "disable", item)
    expect(panel.get_by_text("Disabled — will not run")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("is now disabled")
    assert enabled_at(on_sandbox, item) is None


@pytest.mark.browser
def test_create_from_the_version_picker_then_delete(page, editor, on_sandbox, shape):
    on_sandbox.set_shape(shape)
    sign_in(page, editor)
    page.goto("/deployments/")
    picker = page.get_by_role("form", name="Start a new deployment")
    picker.get_by_label("New deployment of").select_option(label=NEVER_DEPLOYED_FLOW)
    versions = picker.get_by_label("Version")
    expect(versions.locator("option").nth(1)).to_contain_text(re.compile(r"^Version \d+ \("))
    expect(versions.locator("option", has_text="not available")).to_have_count(0)
    versions.select_option(index=1)
    picker.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("New deployment")
    page.get_by_label("Environment").select_option(label=UK_TEST)
    page.get_by_label(re.compile(r"^Create it disabled")).check()
    page.get_by_role("button", name="Create deployment").click()

    created = page.get_by_role("status").filter(has_text="Created")
    expect(created).to_contain_text(f"Created {NEVER_DEPLOYED_FLOW} v")
    expect(created).to_contain_text("in UK Test")
    expect(page.get_by_text("Disabled — will not run")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(NEVER_DEPLOYED_FLOW)

    page.get_by_role("link", name="Delete…").click()
    expect(page.locator("main .card")).to_contain_text(NEVER_DEPLOYED_FLOW)
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_role("status").filter(has_text="Deleted")).to_contain_text(
        NEVER_DEPLOYED_FLOW
    )
    on_sandbox.set_shape(None)
    listing = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments", params={"filter[name]": NEVER_DEPLOYED_FLOW}
    ).json()["data"]
    assert listing == []
