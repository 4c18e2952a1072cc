"""Everyday comfort in a real Chromium: phone and laptop widths, rows that keep their place,
saved views, and dark mode that axe accepts."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Page, expect

from deployments_ui.saved_views.models import SavedView
from tests.browser import sign_in
from tests.factories import make_user

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
UK_LIVE_ID = 1  # sandbox/demo.py: fixed ids

expect.set_options(timeout=10_000)


@pytest.fixture
def page(page):
    """The signed-out page, failing the test on any script error it logs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def header_widths(page: Page) -> list[float]:
    return page.evaluate(
        "[...document.querySelectorAll('#deployment-table thead th')]"
        ".map(th => th.getBoundingClientRect().width)"
    )


def first_deployment(on_sandbox, **filters) -> dict:
    params = {"per_page": 100, **{f"filter[{k}]": v for k, v in filters.items()}}
    return on_sandbox.api("GET", "/api/v1/flow-version-deployments", params=params).json()["data"]


# 1. Phone and laptop widths


@pytest.mark.browser
def test_at_phone_width_nothing_scrolls_sideways(page, operator, on_sandbox):
    page.set_viewport_size(PHONE)
    sign_in(page, operator)
    page.goto(f"/deployments/?environment={UK_LIVE_ID}")
    assert page_width(page) <= PHONE["width"]

    # The filters fold behind a summary that counts them, and unfold on a tap.
    summary = page.get_by_text("Filters (1 active)")
    expect(summary).to_be_visible()
    expect(page.get_by_label("Search flow names")).to_be_hidden()
    summary.click()
    expect(page.get_by_label("Search flow names")).to_be_visible()
    page.get_by_label("Search flow names").press_sequentially("er")
    expect(page.get_by_text("Filters (2 active)")).to_be_visible()
    # The table is swapped in place (16 deployments in UK Live match "er").
    expect(page).to_have_url(re.compile(r"q=er\b"))
    expect(page.get_by_text("Showing 1–16 of 16 deployments")).to_be_visible()
    page.get_by_text("Filters (2 active)").click()
    expect(page.get_by_label("Search flow names")).to_be_hidden()

    # Each deployment is a card: its environment and its action are on screen together.
    card = page.locator("#deployment-table tbody tr").first
    expect(card.locator(".cell-environment")).to_be_in_viewport()
    expect(card.get_by_role("button")).to_be_in_viewport()
    assert page_width(page) <= PHONE["width"]

    for url in ("/audit/", detail_url(first_deployment(on_sandbox)[0])):
        page.goto(url)
        assert page_width(page) <= PHONE["width"], f"{url} is wider than the phone"


@pytest.mark.browser
def test_at_laptop_width_the_filters_stay_open(page, operator, on_sandbox):
    page.set_viewport_size(LAPTOP)
    sign_in(page, operator)
    page.goto("/deployments/")
    expect(page.get_by_label("Search flow names")).to_be_visible()
    expect(page.get_by_text("Filters (0 active)")).to_be_hidden()
    # Narrowing the window folds them; widening it again opens them.
    page.set_viewport_size(PHONE)
    expect(page.get_by_label("Search flow names")).to_be_hidden()
    page.set_viewport_size(LAPTOP)
    expect(page.get_by_label("Search flow names")).to_be_visible()
    assert page_width(page) <= LAPTOP["width"]


def detail_url(item: dict) -> str:
    return f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/"


# 2. Rows keep their place


@pytest.mark.browser
def test_enabling_a_row_changes_no_column_width(page, operator, on_sandbox):
    page.set_viewport_size(LAPTOP)
    disabled = [d for d in first_deployment(on_sandbox) if not d["enabled_at"]]
    item = disabled[0]
    sign_in(page, operator)
    page.goto("/deployments/?per_page=100")
    before = header_widths(page)
    row = page.locator(f"#deployment-row-{item['id']}")
    row.get_by_role("button", name=re.compile(r"^Enable ")).click()
    page.get_by_role("dialog").get_by_label(re.compile(r"^Reason")).fill("back on")
    page.get_by_role("dialog").get_by_role("button", name="Yes, enable it").click()
    expect(row).to_contain_text("● Enabled")
    expect(page.locator("#toasts")).to_contain_text("is now enabled")
    assert header_widths(page) == before


# 3. Saved views


@pytest.mark.browser
def test_it_saves_opens_shares_and_deletes_a_view(page, operator, viewer, on_sandbox):
    page.set_viewport_size(LAPTOP)
    sign_in(page, operator)
    page.goto("/deployments/")
    page.get_by_label("Environments:").select_option(str(UK_LIVE_ID))
    page.get_by_label("Search flow names").press_sequentially("er")
    expect(page).to_have_url(re.compile(r"q=er\b"))
    page.get_by_role("columnheader", name=re.compile(r"^Enabled at")).get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"sort=enabled_at\b"))

    page.get_by_text("Save this view…").click()
    page.get_by_label("Name of the view").fill("UK Live, by last enabled")
    page.get_by_label(re.compile(r"^Share with everyone")).check()
    page.get_by_role("button", name="Save this view").click()
    expect(page.get_by_role("status").filter(has_text="Saved the view")).to_contain_text(
        "everyone can open it"
    )
    saved = SavedView.objects.get()
    assert saved.query == f"q=er&environment={UK_LIVE_ID}&sort=enabled_at&per_page=25"

    # Opening it from the menu brings the same filters and sort back.
    page.goto("/deployments/")
    page.get_by_text("Saved views (1)").click()
    page.get_by_role("link", name="UK Live, by last enabled").click()
    expect(page.get_by_label("Search flow names")).to_have_value("er")
    expect(page.get_by_label("Environments:")).to_have_value(str(UK_LIVE_ID))
    expect(page.get_by_role("columnheader", name=re.compile(r"^Enabled at"))).to_have_attribute(
        "aria-sort", "ascending"
    )

    # Someone else sees who shared it, and cannot change it.
    page.context.clear_cookies()
    sign_in(page, viewer)
    page.goto("/deployments/")
    page.get_by_text("Saved views (1)").click()
    menu = page.locator(".saved-view-list")
    expect(menu).to_contain_text("shared by Oscar Operator")
    expect(menu.get_by_text("Delete")).to_have_count(0)

    # The owner renames it, then deletes it after confirming.
    page.context.clear_cookies()
    sign_in(page, operator)
    page.goto("/deployments/")
    page.get_by_text("Saved views (1)").click()
    page.get_by_text("Rename UK Live, by last enabled…").click()
    page.get_by_label("New name").fill("UK Live")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Renamed")).to_be_visible()
    page.get_by_text("Saved views (1)").click()
    page.get_by_text("Delete UK Live…").click()
    expect(page.get_by_text("Delete the view “UK Live” for everyone?")).to_be_visible()
    page.get_by_role("button", name="Yes, delete “UK Live”").click()
    expect(page.get_by_role("status").filter(has_text="Deleted the view")).to_be_visible()
    expect(page.get_by_text("Saved views", exact=True)).to_be_visible()
    assert not SavedView.objects.exists()


@pytest.mark.browser
def test_a_saved_audit_view_is_a_plain_link(page, viewer):
    owner = make_user("ada", "Viewer", full_name="Ada Audit")
    SavedView.objects.create(
        owner=owner, name="Failures", page="audit", query="outcome=failed", shared=True
    )
    page.set_viewport_size(PHONE)
    sign_in(page, viewer)
    page.goto("/audit/")
    page.get_by_text("Saved views (1)").click()
    expect(page.locator(".saved-view-list")).to_contain_text("shared by Ada Audit")
    page.get_by_role("link", name="Failures").click()
    expect(page).to_have_url(re.compile(r"/audit/\?outcome=failed$"))
    expect(page.get_by_text("Filters (1 active)")).to_be_visible()
    assert page_width(page) <= PHONE["width"]


# 4. and 5. Global deployments and dark mode


AXE_OPTIONS = {"resultTypes": ["violations"]}


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(page.evaluate("options => axe.run(document, options)", AXE_OPTIONS))
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


@pytest.mark.browser
@pytest.mark.parametrize("width", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_dark_mode_follows_the_system_and_passes_axe(page, editor, on_sandbox, width):
    page.set_viewport_size(width)
    page.emulate_media(color_scheme="dark")
    page.context.add_init_script(AXE_SCRIPT)
    SavedView.objects.create(owner=editor, name="Mine", page="deployments", query="scope=yes")
    sign_in(page, editor)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", "the page did not follow the dark system setting"

    page.goto(f"/deployments/?environment={UK_LIVE_ID}")
    page.get_by_text("Saved views (1)").click()
    page.get_by_text("Save this view…").click()
    if width is PHONE:
        page.get_by_text("Filters (1 active)").click()
    assert_accessible(page, "deployments list, menus open, dark")
    page.locator("#deployment-table tbody tr").first.get_by_role("button").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_accessible(page, "confirmation, dark")
    page.get_by_role("button", name="No, leave it as it is").click()

    global_item = first_deployment(on_sandbox, **{"global": "1"})[0]
    page.goto(detail_url(global_item))
    expect(page.get_by_role("heading", level=1)).to_contain_text("in all environments")
    expect(page.get_by_text("This deployment is not tied to one environment")).to_be_visible()
    assert_accessible(page, "a global deployment, dark")
    page.goto("/audit/")
    assert_accessible(page, "audit log, dark")
    page.emulate_media(color_scheme="light")
    page.goto(f"/deployments/?environment={UK_LIVE_ID}")
    assert_accessible(page, "deployments list, light")
