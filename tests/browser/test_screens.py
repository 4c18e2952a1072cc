"""Every page at every width, for every role: no sideways page, the grouped menu, cards on
phones, axe clean in light and dark; and enabling a deployment with the keyboard alone."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Page, expect

from tests.browser import sign_in
from tests.calendar.helpers import open_request
from tests.deployments import find_deployment

PHONE, TABLET, SMALL_LAPTOP, LAPTOP = 390, 768, 1024, 1280
WIDTHS = (PHONE, TABLET, SMALL_LAPTOP, LAPTOP)
ROLES = {
    "viewer": "viewer",
    "operator": "operator",
    "editor": "editor",
    "admin": "admin_user",
}
GROUPS = ["Deployments", "Changes", "Audit", "Settings"]
AXE_OPTIONS = {"resultTypes": ["violations"]}

expect.set_options(timeout=10_000)


@pytest.fixture
def page(page):
    """The page, failing the test on any script error it logs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.context.add_init_script(AXE_SCRIPT)
    yield page
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(page.evaluate("options => axe.run(document, options)", AXE_OPTIONS))
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def assert_no_sideways_page(page: Page, what: str) -> None:
    wide, width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert wide <= width, f"{what} is {wide} px wide in a {width} px window"


def menu_pages(page: Page) -> list[str]:
    """The console's pages the menu offers this person (Django's admin is not ours)."""
    hrefs = page.locator("nav[aria-label=Main] a").evaluate_all(
        "links => links.map(a => a.pathname)"
    )
    return [href for href in hrefs if not href.startswith("/admin/")]


def check_menu(page: Page, width: int) -> None:
    menu = page.get_by_role("navigation", name="Main")
    button = menu.get_by_role("button", name="Menu")
    if width < TABLET:
        expect(button).to_be_visible()
        expect(menu.get_by_role("link").first).to_be_hidden()
        button.click()
        expect(button).to_have_attribute("aria-expanded", "true")
    else:
        expect(button).to_be_hidden()
    names = menu.locator("span.menu-group-name").all_inner_texts()
    assert [name.strip().title() for name in names] == GROUPS[: len(names)]
    assert names, "the menu has no groups"
    expect(menu.get_by_label("Language")).to_be_visible()
    for link in menu.get_by_role("link").all():
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, "a menu link is off screen"


def check_cards(page: Page, can_toggle: bool) -> None:
    """On a phone or tablet each deployment is a card with its environment and action in view,
    and the list does not scroll sideways inside its region either."""
    region = page.locator("#deployment-table .table-wrap")
    inner, shown = region.evaluate("wrap => [wrap.scrollWidth, wrap.clientWidth]")
    assert inner <= shown, f"the deployments scroll sideways: {inner} px in {shown} px"
    for card in page.locator("#deployment-table tbody tr").all()[:3]:
        card.scroll_into_view_if_needed()
        expect(card.locator(".cell-environment")).to_be_in_viewport()
        expect(card.locator(".cell-state")).to_be_in_viewport()
        if can_toggle:
            expect(
                card.get_by_role("button", name=re.compile(r"^(Enable|Disable) "))
            ).to_be_in_viewport()
        assert card.evaluate("row => getComputedStyle(row).display") == "grid"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_every_width_for(page, request, on_sandbox, ann, role):
    user = request.getfixturevalue(ROLES[role])
    change = open_request(ann)
    page.set_viewport_size({"width": LAPTOP, "height": 900})
    sign_in(page, user)
    page.goto("/deployments/")
    detail = page.locator("#deployment-table tbody tr a").first.get_attribute("href")
    pages = [*menu_pages(page), detail, f"/changes/{change.pk}/"]
    can_toggle = role != "viewer"
    for index, width in enumerate(WIDTHS):
        page.set_viewport_size({"width": width, "height": 900})
        # Light at two widths, dark at the other two; every page is checked in both.
        scheme = "dark" if index % 2 else "light"
        page.emulate_media(color_scheme=scheme)
        for url in pages:
            page.goto(url)
            what = f"{url} at {width} px, {scheme}, as {role}"
            assert_no_sideways_page(page, what)
            if url == pages[0]:
                check_menu(page, width)
                if width < SMALL_LAPTOP:
                    check_cards(page, can_toggle)
            assert_accessible(page, what)
            assert_no_sideways_page(page, what)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_keyboard_alone_enables_a_deployment_in_a_few_presses(page, operator, on_sandbox):
    """From the list: skip to the table, reach the row's button, confirm."""
    item = find_deployment(on_sandbox, enabled=False, live=False)
    environment = item["virtualEnvironment"]["id"]
    page.set_viewport_size({"width": LAPTOP, "height": 900})
    sign_in(page, operator)
    page.goto(f"/deployments/?environment={environment}&per_page=100")
    row = page.locator(f"#deployment-row-{item['id']}")
    flow = row.locator("td").first.get_by_role("link").inner_text()
    # The list narrowed to this flow in this environment, as a person would search for it.
    page.goto(f"/deployments/?environment={environment}&name={quote(flow)}")
    row_id = f"deployment-row-{item['id']}"
    presses = 0

    def press(key: str) -> None:
        nonlocal presses
        presses += 1
        page.keyboard.press(key)

    press("Tab")
    expect(page.get_by_role("link", name="Skip to the deployments")).to_be_focused()
    press("Enter")
    button = row.get_by_role("button", name=re.compile(r"^Enable "))
    while presses < 12 and not button.evaluate("b => b === document.activeElement"):
        press("Tab")
    expect(button).to_be_focused()
    press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    yes = dialog.get_by_role("button", name="Yes, enable it")
    while presses < 12 and not yes.evaluate("b => b === document.activeElement"):
        press("Tab")
    press("Enter")
    swapped = page.locator(f"#{row_id}")
    expect(swapped).to_contain_text("● Enabled")
    assert presses <= 12, f"{presses} key presses"
    # Focus stays where the person was: on the row's button, now offering the way back.
    expect(swapped.get_by_role("button", name=re.compile(r"^Disable "))).to_be_focused()
    # The swapped row kept its bulk checkbox.
    expect(swapped.get_by_role("checkbox")).to_have_count(1)
