"""The change calendar in a real Chromium, at a phone's width and a laptop's: what changed, what
is scheduled and frozen, "what changed before…", and a calendar link made, read and revoked."""

from __future__ import annotations

import re
from datetime import timedelta

import icalendar
import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser import sign_in
from tests.calendar.helpers import open_request, scheduled, weekly_freeze
from tests.factories import actor_for, console_disable, make_user

expect.set_options(timeout=10_000)
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(
        page.evaluate("options => axe.run(document, options)", {"resultTypes": ["violations"]})
    )
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.fixture
def people(roles):
    return {
        "vera": make_user("vera", "Viewer", full_name="Vera Viewer"),
        "ann": make_user("ann", "Operator", full_name="Ann Smith"),
    }


@pytest.fixture
def plans(people):
    ann = people["ann"]
    console_disable(actor_for(ann), reason="supplier outage")
    scheduled(timezone.now() + timedelta(hours=1), user=ann, reason="night batch")
    open_request(ann, action="disable")
    weekly_freeze(scope="all", description="weekend freeze")


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_a_viewer_reads_the_calendar_and_subscribes(page: Page, people, plans, size):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size(size)
    page.context.add_init_script(AXE_SCRIPT)
    sign_in(page, people["vera"])

    page.goto("/calendar/")  # sets the time zone cookie (console.js) for the next pages
    menu = page.get_by_role("navigation", name="Main")
    if size is PHONE:  # below a tablet's width the menu folds behind its button
        menu.get_by_role("button", name="Menu").click()
    menu.get_by_role("link", name="Calendar").click()
    week = page.get_by_role("region", name=re.compile(r"^Week of "))
    expect(week).to_contain_text("Ann Smith disabled Orders → Shopify version 3 in UK Live (live)")
    expect(week).to_contain_text("reason: supplier outage")
    expect(week).to_contain_text(
        "Disable Orders → Shopify version 3 in UK Live (live) — asked by Ann Smith"
    )
    expect(week).to_contain_text("Waiting for approval")
    expect(page.get_by_text("Times are in Europe/Paris")).to_be_visible()
    assert page_width(page) <= size["width"]
    weekdays = page.locator(".cal-weekdays")
    if size is PHONE:
        expect(weekdays).to_be_hidden()  # an agenda list: the days one under another
    else:
        expect(weekdays).to_be_visible()
    assert_accessible(page, f"week view at {size['width']} px")

    # The month, then back to today; each is a plain link that keeps the state in the URL.
    page.get_by_role("link", name="Month", exact=True).click()
    expect(page).to_have_url(re.compile(r"view=month"))
    month = page.get_by_role("region", name=re.compile(r"^[A-Z][a-z]+ \d{4}$"))
    expect(
        month.get_by_text("Changes frozen in every environment (weekend freeze)")
        .locator("visible=true")
        .first
    ).to_be_visible()
    assert page_width(page) <= size["width"]
    assert_accessible(page, f"month view at {size['width']} px")
    page.get_by_role("link", name="Next month ›").click()
    page.get_by_role("link", name="Today").click()
    expect(page).to_have_url(re.compile(r"view=month&date=\d{4}-\d\d-\d\d"))

    # Filters: only what is planned.
    page.get_by_role("link", name="Week", exact=True).click()
    if size is PHONE:
        page.get_by_text(re.compile(r"^Filters \(")).click()
    page.get_by_label("Scheduled changes still to come").check()
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"type=scheduled"))
    week = page.get_by_role("region", name=re.compile(r"^Week of "))
    expect(week).to_contain_text("asked by Ann Smith")
    expect(week).not_to_contain_text("Ann Smith disabled")

    # What changed before a change: from the entry, in the day view.
    page.goto("/calendar/?view=day")
    day = page.get_by_role("region", name=re.compile(r"day \d+ [A-Z][a-z]+ \d{4}$"))
    expect(
        day.get_by_role("link", name=re.compile(r"^What changed before \d\d:00\?$"))
    ).not_to_have_count(0)
    change = day.get_by_role("listitem").filter(has_text="Ann Smith disabled").last
    change.get_by_role("link", name="What changed before this?").click()
    expect(page.get_by_text(re.compile(r"What changed in the 6 hours before"))).to_be_visible()
    expect(page.locator("#audit-table")).to_contain_text("reason: supplier outage")
    assert_accessible(page, f"what changed before, at {size['width']} px")

    # A calendar link, shown once, read by a calendar program, then revoked.
    page.goto("/calendar/?type=scheduled&type=freeze")
    page.get_by_role("button", name="Make my calendar link").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    link = page.get_by_label(re.compile(r"^Link")).input_value()
    assert_accessible(page, f"calendar link page at {size['width']} px")
    feed = page.request.get(link)
    assert feed.status == 200
    calendar = icalendar.Calendar.from_ical(feed.body())
    summaries = sorted(str(event["SUMMARY"]) for event in calendar.walk("VEVENT"))
    assert summaries == [
        "Changes frozen in every environment (weekend freeze)",
        "Disable Orders → Shopify version 3 in UK Live (live) (waiting for approval)",
    ]
    page.get_by_role("link", name="Back to the calendar").click()
    expect(page.get_by_text("You have a calendar link")).to_be_visible()
    page.get_by_role("button", name="Revoke my calendar link").click()
    expect(page.get_by_text("Your calendar link is revoked")).to_be_visible()
    assert page.request.get(link).status == 404
    assert not errors, errors


def test_without_javascript_every_view_and_filter_is_a_plain_link_or_form(
    browser, live_server, people, plans
):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, timezone_id="Europe/Paris"
    )
    page = context.new_page()
    try:
        sign_in(page, people["vera"])
        page.goto("/calendar/?view=day")
        expect(page.get_by_role("heading", level=2).first).to_have_text(
            re.compile(r"^[A-Z][a-z]+day \d+ [A-Z][a-z]+ \d{4}$")
        )
        page.get_by_role("link", name="‹ Previous day").click()
        expect(page).to_have_url(re.compile(r"view=day&date=\d{4}-\d\d-\d\d"))
        page.get_by_label("Person").fill("ann")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"person=ann"))
        page.get_by_role("link", name="Week", exact=True).click()
        expect(page).to_have_url(re.compile(r"view=week.*person=ann|person=ann.*view=week"))
    finally:
        context.close()
