"""The one change pipeline in a real Chromium: refusals stay in the dialog (or on the page
without JavaScript), and a live change scheduled for later asks for approval at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import ScheduledChange
from deployments_ui.schedules.tasks import apply_due_changes
from tests.browser.test_changes import (
    assert_accessible,
    desk,
    detail_url,
    is_enabled,
    live_enabled,
    writes,
)
from tests.changes.helpers import freeze_now, protect

expect.set_options(timeout=10_000)
pytestmark = pytest.mark.browser


def open_disable_dialog(page, item):
    page.goto(detail_url(item))
    page.locator(f"#deployment-panel-{item['id']}").get_by_role(
        "button", name=re.compile(r"^Disable ")
    ).click()
    return page.get_by_role("dialog")


def test_a_wrong_name_keeps_the_dialog_open_with_the_message_beside_the_field(
    browser, live_server, people, on_sandbox
):
    protect("live", approvals=0, confirm_name=True)
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"], axe=True) as page:
        dialog = open_disable_dialog(page, item)
        dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill("Not the name")
        dialog.get_by_role("button", name="Yes, disable it").click()
        message = dialog.locator("#confirm-toggle-name-error")
        expect(message).to_contain_text(
            f"Type the environment's name, {item['environment']['name']}"
        )
        expect(dialog).to_be_visible()
        expect(dialog.get_by_label(re.compile(r"^Reason"))).to_have_value("supplier outage")
        expect(page.get_by_role("heading", level=1)).to_be_visible()  # the page is still there
        assert_accessible(page, "the dialog with a refusal")

        dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill(
            item["environment"]["name"]
        )
        dialog.get_by_role("button", name="Yes, disable it").click()
        expect(dialog).to_be_hidden()
        expect(page.locator(f"#deployment-panel-{item['id']}")).to_contain_text("Disabled")
    assert not is_enabled(on_sandbox, item)


def test_a_frozen_environment_and_a_duplicate_request_are_answered_in_the_dialog(
    browser, live_server, people, on_sandbox
):
    protect("live")
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"]) as page:
        dialog = open_disable_dialog(page, item)
        dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        dialog.get_by_role("button", name="Yes, disable it").click()
        expect(page.locator("#toasts")).to_contain_text("This change needs approval")
        request = ChangeRequest.objects.get()

        dialog = open_disable_dialog(page, item)
        dialog.get_by_label(re.compile(r"^Reason")).fill("again")
        dialog.get_by_role("button", name="Yes, disable it").click()
        box = dialog.locator("#confirm-toggle-error")
        expect(box).to_contain_text(f"already waits for approval as change request {request.pk}")
        expect(box.get_by_role("link", name="Open the change request")).to_have_attribute(
            "href", f"/changes/{request.pk}/"
        )
        dialog.get_by_role("button", name="No, leave it as it is").click()
        expect(dialog).to_be_hidden()

    freeze_now("live")
    with desk(browser, live_server, people["edie"]) as page:
        page.goto(detail_url(item))
        # A frozen deployment asks on its own page, which explains the freeze.
        page.get_by_role("button", name=re.compile(r"^Disable ")).click()
        expect(page.get_by_role("note").filter(has_text="Freeze:")).to_be_visible()
        page.get_by_label("Reason", exact=True).fill("outage")
        page.get_by_role("button", name="Yes, disable it").click()
        expect(page.get_by_role("alert")).to_contain_text("a freeze window is in force")
        expect(page.get_by_label("Reason", exact=True)).to_have_value("outage")
    assert ChangeRequest.objects.count() == 1 and is_enabled(on_sandbox, item)


def test_without_javascript_a_wrong_name_is_shown_beside_the_field(
    browser, live_server, people, on_sandbox
):
    protect("live", approvals=0, confirm_name=True)
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"], script=False) as page:
        page.goto(detail_url(item))
        page.get_by_role("button", name=re.compile(r"^Disable ")).click()
        page.get_by_label("Reason").fill("supplier outage")
        page.get_by_label(re.compile(r"^To confirm, type its name")).fill("wrong")
        page.get_by_role("button", name="Yes, disable it").click()
        expect(page.locator("#id_confirm_name_error")).to_contain_text("Type the environment")
        expect(page.get_by_label("Reason")).to_have_value("supplier outage")
    assert is_enabled(on_sandbox, item) and writes(on_sandbox) == []


def test_a_live_disable_scheduled_for_later_is_approved_then_applied_at_its_time(
    browser, live_server, people, on_sandbox
):
    protect("live", confirm_name=True)
    item = live_enabled(on_sandbox)
    name = item["environment"]["name"]
    at = timezone.localtime(timezone.now() + timedelta(minutes=2), timezone.get_fixed_timezone(60))
    with desk(browser, live_server, people["oscar"]) as page:
        dialog = open_disable_dialog(page, item)
        dialog.get_by_label("At…").check()
        dialog.get_by_label(re.compile(r"^Time")).fill(at.strftime("%Y-%m-%dT%H:%M"))
        dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill(name)
        dialog.get_by_role("button", name="Yes, schedule it").click()
        expect(page.locator("#toasts")).to_contain_text("needs approval")
        expect(page.locator(f"#deployment-panel-{item['id']}")).to_contain_text(
            "waiting for approval"
        )
    request = ChangeRequest.objects.get()
    assert request.due_at is not None
    with desk(browser, live_server, people["edie"]) as page:
        page.goto(f"/changes/{request.pk}/")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_text("Approved. It is applied at its scheduled time.")).to_be_visible()
    assert is_enabled(on_sandbox, item)
    ScheduledChange.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    apply_due_changes()
    assert not is_enabled(on_sandbox, item)
