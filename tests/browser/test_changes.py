"""Change control's journeys, in a real Chromium: four eyes, the typed name, freeze windows.

Each person gets a browser context of their own, as two people at two desks would.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Page, expect

from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent
from tests.browser import sign_in
from tests.changes.helpers import freeze_now, protect

expect.set_options(timeout=10_000)
pytestmark = pytest.mark.browser


@contextmanager
def desk(browser, live_server, user, *, script: bool = True, axe: bool = False):
    """A browser context signed in as `user`; fails on any script error the page logs."""
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=script, timezone_id="Europe/Paris"
    )
    context.set_default_timeout(10_000)
    if axe:
        context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, user)
        yield page
    finally:
        context.close()
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def live_enabled(on_sandbox) -> dict:
    environments = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments"
    ).json()["data"]
    live = {str(env["id"]): env for env in environments if env["type"] == "live"}
    listing = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments", params={"per_page": 100}
    ).json()["data"]
    for item in listing:
        if str(item["virtual_environment_id"]) in live and item["enabled_at"]:
            return {**item, "environment": live[str(item["virtual_environment_id"])]}
    raise AssertionError("no enabled live deployment in the demo data")


def detail_url(item: dict) -> str:
    return f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/"


def is_enabled(on_sandbox, item: dict) -> bool:
    response = on_sandbox.api("GET", f"/api/v1{detail_url(item)}".rstrip("/"))
    return bool(response.json()["data"]["enabled_at"])


def writes(on_sandbox) -> list[dict]:
    return [r for r in on_sandbox.requests() if r["method"] != "GET"]


def ask_to_disable_in_the_dialog(page: Page, item: dict, *, name: str) -> None:
    """From the detail panel: the dialog asks for a reason and the environment's name."""
    page.goto(detail_url(item))
    panel = page.locator(f"#deployment-panel-{item['id']}")
    panel.get_by_role("button", name=re.compile(r"^Disable ")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"To confirm, type its name: {name}")
    expect(dialog).to_contain_text("This environment needs another person's approval")
    dialog.get_by_label(re.compile(r"^Reason")).fill("supplier outage")
    dialog.get_by_label(re.compile(r"^To confirm, type its name")).fill(name)
    dialog.get_by_role("button", name="Yes, disable it").click()


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(
        page.evaluate("options => axe.run(document, options)", {"resultTypes": ["violations"]})
    )
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def test_a_request_is_approved_by_another_person_then_applied(
    browser, live_server, people, on_sandbox
):
    protect("live", confirm_name=True)
    item = live_enabled(on_sandbox)
    name = item["environment"]["name"]
    on_sandbox.clear_requests()

    with desk(browser, live_server, people["oscar"]) as oscar:
        ask_to_disable_in_the_dialog(oscar, item, name=name)
        expect(oscar.locator("#toasts")).to_contain_text("This change needs approval")
        expect(oscar.locator(f"#deployment-panel-{item['id']}")).to_contain_text(
            "Enabled — runs on its schedule"
        )
        assert writes(on_sandbox) == []
        change = ChangeRequest.objects.get()
        # The requester cannot approve: no button, and a sentence saying why.
        oscar.goto(f"/changes/{change.pk}/")
        expect(oscar.get_by_text("another person must approve it")).to_be_visible()
        expect(oscar.get_by_role("button", name="Approve")).to_have_count(0)

    with desk(browser, live_server, people["olga"]) as olga:
        olga.goto("/changes/")
        waiting = olga.get_by_role("table", name="Requests waiting for my decision")
        waiting.get_by_role("link", name=f"Request {change.pk}", exact=True).click()
        expect(olga.get_by_role("heading", level=1)).to_contain_text(f"Disable {item['name']}")
        expect(olga.get_by_role("table")).to_contain_text("In Patchworks now")
        olga.get_by_role("button", name="Approve").click()
        expect(olga.get_by_role("status").filter(has_text="Approved.")).to_be_visible()
        assert writes(on_sandbox) == []

    with desk(browser, live_server, people["oscar"]) as oscar:
        oscar.goto(f"/changes/{change.pk}/")
        oscar.get_by_role("button", name="Apply it now").click()
        expect(oscar.get_by_role("status").filter(has_text="Applied")).to_be_visible()
        expect(oscar.get_by_text("Olga Other approved change request")).to_be_visible()
    assert [w["path"].rsplit("/", 1)[-1] for w in writes(on_sandbox)] == ["disable"]
    assert not is_enabled(on_sandbox, item)


def test_editing_a_request_resets_approvals_and_a_decline_closes_it(
    browser, live_server, people, on_sandbox
):
    protect("live", approvals=2)
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"], script=False) as oscar:
        oscar.goto(detail_url(item))
        oscar.get_by_role("button", name=re.compile(r"^Disable ")).click()
        expect(oscar.get_by_text("need 2 approvals from another person")).to_be_visible()
        oscar.get_by_label("Reason", exact=True).fill("supplier outage")
        oscar.get_by_role("button", name="Yes, disable it").click()
        expect(oscar.get_by_role("status").filter(has_text="needs approval")).to_be_visible()
    change = ChangeRequest.objects.get()

    with desk(browser, live_server, people["olga"]) as olga:
        olga.goto(f"/changes/{change.pk}/")
        olga.get_by_role("button", name="Approve").click()
        expect(olga.get_by_text("1 of 2", exact=True)).to_be_visible()

    with desk(browser, live_server, people["oscar"]) as oscar:
        oscar.goto(f"/changes/{change.pk}/")
        oscar.get_by_label("Reason").fill("outage, ticket 7")
        oscar.get_by_role("button", name="Save the request").click()
        expect(oscar.get_by_role("status").filter(has_text="were reset")).to_be_visible()
        expect(oscar.get_by_text("0 of 2", exact=True)).to_be_visible()
        expect(oscar.get_by_text("no longer counts")).to_be_visible()

    with desk(browser, live_server, people["edie"]) as edie:
        edie.goto(f"/changes/{change.pk}/")
        edie.get_by_label("Why you decline it").fill("not during the sale")
        edie.get_by_role("button", name="Decline").click()
        expect(edie.get_by_role("status").filter(has_text="Declined.")).to_be_visible()
        expect(edie.get_by_text("Edie Editor declined change request")).to_be_visible()
    assert ChangeRequest.objects.get().status == "declined"
    assert writes(on_sandbox) == [] and is_enabled(on_sandbox, item)


def test_a_stale_request_is_refused_and_nothing_is_sent(browser, live_server, people, on_sandbox):
    protect("live")
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"]) as oscar:
        oscar.goto(detail_url(item))
        oscar.get_by_role("button", name=re.compile(r"^Disable ")).click()
        oscar.get_by_role("dialog").get_by_label(re.compile(r"^Reason")).fill("supplier outage")
        oscar.get_by_role("dialog").get_by_role("button", name="Yes, disable it").click()
        expect(oscar.locator("#toasts")).to_contain_text("This change needs approval")
    change = ChangeRequest.objects.get()
    with desk(browser, live_server, people["olga"]) as olga:
        olga.goto(f"/changes/{change.pk}/")
        olga.get_by_role("button", name="Approve").click()
        # Meanwhile someone disables it in the Patchworks dashboard.
        on_sandbox.api("POST", f"/api/v1{detail_url(item)}disable", key="sandbox-key-dashboard")
        on_sandbox.clear_requests()
        olga.get_by_role("button", name="Apply it now").click()
        stale = olga.get_by_role("alert").filter(has_text="Not applied:")
        expect(stale).to_contain_text("Nothing was sent.")
    assert writes(on_sandbox) == []


def test_a_freeze_refuses_and_an_admin_override_is_audited(
    browser, live_server, people, on_sandbox
):
    freeze_now("live", description="CHG-42 release")
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"]) as oscar:
        oscar.goto(detail_url(item))
        expect(oscar.get_by_text("Freeze in force:")).to_be_visible()
        # A frozen row asks on its own page, which explains the freeze.
        oscar.get_by_role("button", name=re.compile(r"^Disable ")).click()
        expect(oscar.get_by_text("Changes here are refused")).to_be_visible()
        oscar.get_by_label("Reason", exact=True).fill("supplier outage")
        oscar.get_by_role("button", name="Yes, disable it").click()
        expect(oscar.get_by_role("alert").filter(has_text="are refused")).to_be_visible()
    assert is_enabled(on_sandbox, item)

    with desk(browser, live_server, people["adam"]) as adam:
        adam.goto(detail_url(item))
        adam.get_by_role("button", name=re.compile(r"^Disable ")).click()
        adam.get_by_label("Reason to override the freeze window (Admins)").fill("incident 12")
        adam.get_by_label("Reason", exact=True).fill("supplier outage")
        adam.get_by_role("button", name="Yes, disable it").click()
        expect(adam.get_by_role("status").filter(has_text="is now disabled")).to_be_visible()
        adam.goto("/audit/")
        expect(adam.get_by_text(re.compile("Adam Admin overrode a freeze window"))).to_be_visible()
    assert not is_enabled(on_sandbox, item)
    assert AuditEvent.objects.get(action="freeze_override").reason == "incident 12"


def test_a_wrong_name_is_refused_by_the_server(browser, live_server, people, on_sandbox):
    protect("live", approvals=0, confirm_name=True)
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"], script=False) as oscar:
        oscar.goto(detail_url(item))
        oscar.get_by_role("button", name=re.compile(r"^Disable ")).click()
        field = oscar.get_by_label(re.compile(r"^To confirm, type its name"))
        # The browser would refuse an empty field; a wrong name reaches the server.
        field.fill("Not the name")
        oscar.get_by_label("Reason", exact=True).fill("supplier outage")
        oscar.get_by_role("button", name="Yes, disable it").click()
        expect(oscar.locator("#id_confirm_name_error")).to_contain_text(
            f"Type the environment's name, {item['environment']['name']}, to confirm."
        )
        expect(field).to_have_attribute("aria-invalid", "true")
    assert writes(on_sandbox) == [] and is_enabled(on_sandbox, item)


def test_change_control_pages_pass_axe(browser, live_server, people, on_sandbox):
    protect("live", confirm_name=True)
    freeze_now("test")
    item = live_enabled(on_sandbox)
    with desk(browser, live_server, people["oscar"]) as oscar:
        ask_to_disable_in_the_dialog(oscar, item, name=item["environment"]["name"])
        expect(oscar.locator("#toasts")).to_contain_text("This change needs approval")
    change = ChangeRequest.objects.get()
    with desk(browser, live_server, people["adam"], axe=True) as adam:
        for url, heading in [
            ("/changes/", "Changes waiting for approval"),
            (f"/changes/{change.pk}/", "Disable"),
            ("/settings/change-control/", "Change control"),
            ("/settings/freeze-windows/", "Freeze windows"),
            (detail_url(item), item["name"]),
            (detail_url(item) + "delete/", "Delete this deployment?"),
        ]:
            adam.goto(url)
            expect(adam.get_by_role("heading", level=1)).to_contain_text(heading)
            assert_accessible(adam, url)
        adam.goto(detail_url(item))
        adam.locator(f"#deployment-panel-{item['id']}").get_by_role(
            "button", name=re.compile(r"^Disable ")
        ).click()
        expect(adam.get_by_role("dialog")).to_be_visible()
        assert_accessible(adam, "the dialog asking for the name")
