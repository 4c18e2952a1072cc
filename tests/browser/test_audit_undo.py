"""The trail's journey in a real Chromium: disable a deployment, find the event in the audit log,
open its page, undo it (with a reason, and on live as change control asks), and see the undo in
the trail. Every page on the way passes axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent
from tests.browser.test_changes import (
    assert_accessible,
    desk,
    detail_url,
    is_enabled,
    live_enabled,
    writes,
)
from tests.browser.test_pipeline import open_disable_dialog
from tests.changes.helpers import protect
from tests.deployments import find_deployment

expect.set_options(timeout=10_000)
pytestmark = pytest.mark.browser


def find_the_disable_in_the_audit_log(page: Page) -> None:
    """Filter the log by person and action, check the page, and open the one event found."""
    page.goto("/audit/")
    page.get_by_label("Person").fill("Oscar")
    page.get_by_role("combobox", name=re.compile(r"^Action")).select_option("disable")
    page.get_by_role("button", name="Show").click()
    event = page.get_by_role("link", name=re.compile(r"^Oscar Operator disabled "))
    expect(event).to_have_count(1)
    assert_accessible(page, "the audit log filtered to the disable")
    event.click()
    expect(page).to_have_url(re.compile(r"/audit/\d+/$"))
    state = page.locator("table.changes").get_by_role("row", name=re.compile(r"^State"))
    expect(state).to_contain_text(re.compile(r"enabled\s*disabled"))


def test_a_disable_in_a_test_environment_is_found_and_undone(
    browser, live_server, people, on_sandbox
):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    with desk(browser, live_server, people["oscar"], axe=True) as page:
        dialog = open_disable_dialog(page, item)
        dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        dialog.get_by_role("button", name="Yes, disable it").click()
        expect(dialog).to_be_hidden()
        panel = page.locator(f"#deployment-panel-{item['id']}")
        expect(panel).to_contain_text("Disabled")

        find_the_disable_in_the_audit_log(page)
        undo = page.get_by_role("region", name="Undo this change")
        expect(undo).to_contain_text("This puts back what the change altered")
        assert_accessible(page, "the event page")
        undo.get_by_label("Reason").fill("outage over")
        undo.get_by_role("button", name="Undo this change").click()

        expect(page).to_have_url(re.compile(re.escape(detail_url(item)) + "$"))
        expect(page.get_by_text(re.compile(r"^Undone: the change of event \d+"))).to_be_visible()
        expect(panel).to_contain_text("Enabled")
        assert_accessible(page, "the deployment after the undo")

        disable = AuditEvent.objects.get(action="disable", completes__isnull=True)
        page.goto(f"/audit/{disable.pk}/")
        page.get_by_role("link", name=re.compile(r"This change was undone later")).click()
        sentence = page.get_by_role("region", name="The event in one sentence")
        expect(sentence).to_contain_text("Oscar Operator enabled")
        expect(sentence).to_contain_text(f"undoing the change of event {disable.pk}")
        expect(sentence).to_contain_text("reason: outage over")
        assert_accessible(page, "the undo's own event page")
    assert is_enabled(on_sandbox, item)


def test_an_undo_on_live_needs_the_typed_name_and_another_persons_approval(
    browser, live_server, people, on_sandbox
):
    protect("live", approvals=0, confirm_name=True)
    item = live_enabled(on_sandbox)
    name = item["environment"]["name"]
    with desk(browser, live_server, people["oscar"], axe=True) as page:
        dialog = open_disable_dialog(page, item)
        dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill(name)
        dialog.get_by_role("button", name="Yes, disable it").click()
        expect(dialog).to_be_hidden()
        protect("live", approvals=1, confirm_name=True)  # from now on, live changes need approval
        on_sandbox.clear_requests()

        find_the_disable_in_the_audit_log(page)
        undo = page.get_by_role("region", name="Undo this change")
        expect(undo).to_contain_text("here it needs another person's approval")
        undo.get_by_label("Reason").fill("outage over")
        undo.get_by_label(re.compile(r"^To confirm, type its name")).fill("not the name")
        undo.get_by_role("button", name="Undo this change").click()
        expect(page.locator("#id_confirm_name_error")).to_contain_text("Type the environment")
        assert_accessible(page, "the event page with a wrong name")
        undo.get_by_label(re.compile(r"^To confirm, type its name")).fill(name)
        undo.get_by_role("button", name="Undo this change").click()

        request = ChangeRequest.objects.get()
        expect(page).to_have_url(re.compile(rf"/changes/{request.pk}/$"))
        assert_accessible(page, "the change request the undo asked for")
    assert writes(on_sandbox) == [] and not is_enabled(on_sandbox, item)

    with desk(browser, live_server, people["olga"]) as olga:
        olga.goto(f"/changes/{request.pk}/")
        olga.get_by_role("button", name="Approve").click()
        expect(olga.get_by_role("status").filter(has_text="Approved.")).to_be_visible()

    with desk(browser, live_server, people["oscar"], axe=True) as page:
        page.goto(f"/changes/{request.pk}/")
        page.get_by_role("button", name="Apply it now").click()
        expect(page.get_by_role("status").filter(has_text="Applied")).to_be_visible()
        disable = AuditEvent.objects.get(action="disable", completes__isnull=True)
        page.goto(f"/audit/{disable.pk}/")
        page.get_by_role("link", name=re.compile(r"This change was undone later")).click()
        sentence = page.get_by_role("region", name="The event in one sentence")
        expect(sentence).to_contain_text(
            f"at the request of Oscar Operator (change request {request.pk}, approved by "
            f"Olga Other) (undoing the change of event {disable.pk})"
        )
        assert_accessible(page, "the approved undo's event page")
    assert [w["path"].rsplit("/", 1)[-1] for w in writes(on_sandbox)] == ["enable"]
    assert is_enabled(on_sandbox, item)
