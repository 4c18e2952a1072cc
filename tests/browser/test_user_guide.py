"""The user guide's journeys, as its readers take them, on the demo: the pictures come from here.

docs/user-guide.md walks operations staff through finding a deployment, enabling it, scheduling
a change, asking for approval and reading the trail; this test walks the same steps with the
demo sign-ins (`manage.py demo_setup`) against the sandbox's demo data answering as `make run`
has it, and checks each step. With CONSOLE_SCREENSHOTS set (`make screenshots`) it also saves
the pictures docs/ shows, at the moment each shows (tests/browser/screenshots.py).
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.core.management import call_command
from playwright.sync_api import Page, expect

from deployments_ui.changes.models import ChangeRequest
from deployments_ui.management.commands.demo_setup import DEMO_PASSWORD
from deployments_ui.models import AuditEvent, ScheduledChange
from tests.browser import sign_in
from tests.browser.screenshots import DESKTOP, shoot
from tests.browser.test_deployments import assert_accessible, find_deployment, upstream_writes

expect.set_options(timeout=10_000)
pytestmark = pytest.mark.browser
ZONE = "Europe/London"
UK_TEST = "UK Test (test)"


@pytest.fixture
def demo(roles, on_sandbox, django_user_model):
    """The demo sign-ins and change control as `make run` sets them up."""
    call_command("demo_setup", force_demo=True, webhook_url="", stdout=io.StringIO())
    return {user.username: user for user in django_user_model.objects.all()}


@contextmanager
def desk(browser, live_server, user):
    """A desktop browser signed in as a demo person, failing on any script error."""
    context = browser.new_context(
        base_url=live_server.url, timezone_id=ZONE, locale="en-GB", viewport=DESKTOP
    )
    context.set_default_timeout(10_000)
    context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, user, password=DEMO_PASSWORD)
        yield page
    finally:
        context.close()
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def row_of(page: Page, item: dict):
    return page.locator(f"#deployment-row-{item['id']}")


def find_it(page: Page, item: dict) -> None:
    """Narrow the list to the deployment's flow in its environment, as the guide says."""
    page.goto("/deployments/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deployments")
    shoot(page, "deployments")
    page.get_by_label("Environments:").select_option(label=UK_TEST)
    page.get_by_label("Search flow names").press_sequentially(item["name"])
    # The list follows the last keystroke: wait for it, or its request would cut off the next.
    expect(page).to_have_url(re.compile(re.escape(f"q={quote(item['name'])}&")))
    # One version of a flow per environment: the name and the environment leave one row.
    expect(page.get_by_text("Showing 1–1 of 1 deployments")).to_be_visible()
    expect(row_of(page, item)).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert_accessible(page, "the narrowed list")
    shoot(page, "finding")


def enable_it(page: Page, item: dict) -> None:
    row_of(page, item).get_by_role("button", name=re.compile(r"^Enable ")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Enable {item['name']}")
    dialog.get_by_label(re.compile(r"^Reason")).fill("Supplier back online")
    shoot(page, "enabling")
    dialog.get_by_role("button", name="Yes, enable it").click()
    expect(page.locator("#toasts")).to_contain_text("is now enabled")
    expect(row_of(page, item).get_by_text("● Enabled")).to_be_visible()


def schedule_its_disable(page: Page, item: dict) -> None:
    tomorrow = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    row_of(page, item).get_by_role("button", name=re.compile(r"^Disable ")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("At…").check()
    dialog.get_by_label(re.compile(r"^Time")).fill(f"{tomorrow.isoformat()}T18:00")
    dialog.get_by_label(re.compile(r"^Reason")).fill("Supplier maintenance window")
    shoot(page, "scheduling")
    dialog.get_by_role("button", name="Yes, schedule it").click()
    badge = f"Disables at {tomorrow.day} {tomorrow:%b} 18:00 (asked by Oscar Operator)"
    expect(row_of(page, item).get_by_text(badge)).to_be_visible()


def ask_to_disable_live(page: Page, item: dict) -> None:
    name = item["environment"]["name"]
    page.goto(f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/")
    page.get_by_role("button", name=re.compile(r"^Disable ")).first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This environment needs another person's approval")
    dialog.get_by_label(re.compile(r"^Reason")).fill("Orders are duplicated: stop it until fixed")
    dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill(name)
    shoot(page, "asking")
    dialog.get_by_role("button", name="Yes, disable it").click()
    expect(page.locator("#toasts")).to_contain_text("This change needs approval")


def test_the_user_guide_journeys_on_the_demo(browser, live_server, demo, on_sandbox):
    test_item = find_deployment(on_sandbox, environment_type="test", enabled=False)
    live_item = find_deployment(on_sandbox, environment_type="live", enabled=True)
    on_sandbox.set_shape("jsonapi")  # as `make run` answers
    on_sandbox.clear_requests()

    with desk(browser, live_server, demo["operator"]) as operator:
        find_it(operator, test_item)
        enable_it(operator, test_item)
        schedule_its_disable(operator, test_item)
        ask_to_disable_live(operator, live_item)
    writes = [write["path"].rsplit("/", 1)[-1] for write in upstream_writes(on_sandbox)]
    assert writes == ["enable"]  # the schedule waits for its time, the request for approval
    assert ScheduledChange.objects.get().action == "disable"
    change = ChangeRequest.objects.get()

    with desk(browser, live_server, demo["editor"]) as editor:
        editor.goto("/changes/")
        waiting = editor.get_by_role("table", name="Requests waiting for my decision")
        waiting.get_by_role("link", name=f"Request {change.pk}", exact=True).click()
        expect(editor.get_by_role("heading", level=1)).to_contain_text(
            f"Disable {live_item['name']}"
        )
        approve = editor.get_by_role("button", name="Approve")
        shoot(editor, "approving", show=approve, block="end")
        approve.click()
        expect(editor.get_by_role("status").filter(has_text="Approved.")).to_be_visible()

        editor.goto("/audit/")
        expect(editor.get_by_text(re.compile("Oscar Operator enabled"))).to_be_visible()
        shoot(editor, "audit-log", show=editor.get_by_text(re.compile(r"^Showing 1–")))
        enabled = AuditEvent.objects.filter(action="enable", outcome="succeeded").get()
        editor.goto(f"/audit/{enabled.pk}/")
        expect(editor.get_by_role("heading", level=1)).to_have_text("What happened")
        expect(editor.locator("main")).to_contain_text("Supplier back online")
        shoot(editor, "audit-event")
        assert_accessible(editor, "an audit event's page")
