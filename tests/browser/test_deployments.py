"""The deployment pages' journeys, in a real Chromium against a live console and the sandbox.

Each test is one journey a person takes (docs/DESIGN.md, "Tests"). Locators go by role and label,
so each one also checks that the control is named for people using assistive technology.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from playwright.sync_api import Page, expect

from tests.browser import sign_in

# From the sandbox's demo data (sandbox/demo.py: a fixed seed and fixed ids).
UK_LIVE, UK_LIVE_ID = "UK Live (live)", 1
UK_TEST, UK_TEST_ID = "UK Test (test)", 2
NEVER_DEPLOYED_FLOW = "Nightly order reconciliation"
SEARCH = "er"  # 16 deployments in UK Live match: two pages of 10


# Swaps can be slow on a busy machine: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)


# The list's hx-sync="#main:replace" aborts a superseded request on purpose; htmx logs that.
EXPECTED_LOG = ("Failed to load resource", "htmx:sendAbort", "htmx:afterRequest")


@pytest.fixture
def page(page):
    """The signed-out page, failing the test on any script error or CSP complaint it logs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith(EXPECTED_LOG)
            else None
        ),
    )
    yield page
    assert not errors, "the browser logged errors:\n" + "\n".join(dict.fromkeys(errors))


# Helpers


def mark_page(page: Page) -> None:
    """Put a marker on the window; a full page load would wipe it."""
    page.evaluate("window.__marker = 1")


def assert_no_full_load(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded instead of swapped"


def query_of(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def rows(page: Page):
    return page.locator("#deployment-table tbody tr")


def upstream_writes(on_sandbox) -> list[dict]:
    return [r for r in on_sandbox.requests() if r["method"] != "GET"]


def find_deployment(on_sandbox, *, environment_type: str, enabled: bool) -> dict:
    """The newest deployment in an environment of this type and state, from the sandbox."""
    environments = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments"
    ).json()["data"]
    wanted = {str(env["id"]): env for env in environments if env["type"] == environment_type}
    listing = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments", params={"per_page": 100}
    ).json()["data"]
    for item in listing:
        if str(item["virtual_environment_id"]) in wanted and bool(item["enabled_at"]) == enabled:
            return {**item, "environment": wanted[str(item["virtual_environment_id"])]}
    raise AssertionError(f"no {'enabled' if enabled else 'disabled'} {environment_type} deployment")


def detail_url(item: dict) -> str:
    return f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/"


def stored(on_sandbox, item: dict):
    """The deployment as the sandbox has it now (the response, to check a 404 too)."""
    return on_sandbox.api("GET", f"/api/v1{detail_url(item)}".rstrip("/"))


def list_url_for(item: dict) -> str:
    """The list narrowed to one deployment's flow name and environment."""
    return f"/deployments/?environment={item['virtual_environment_id']}&name={quote(item['name'])}"


def crashes(page: Page) -> list[str]:
    """Collects the console's 500 answers (upstream failures have statuses of their own)."""
    found: list[str] = []
    page.on(
        "response",
        lambda response: found.append(response.url) if response.status == 500 else None,
    )
    return found


# 1. Filter, sort and page


@pytest.mark.browser
def test_it_filters_sorts_and_pages_in_place_and_the_url_reopens_the_same_view(
    page, operator, on_sandbox
):
    sign_in(page, operator)
    page.goto("/deployments/")
    mark_page(page)

    page.get_by_label("Environments:").select_option(label=UK_LIVE)
    expect(page).to_have_url(re.compile(rf"environment={UK_LIVE_ID}\b"))
    page.get_by_label("Search flow names").press_sequentially(SEARCH)
    expect(page).to_have_url(re.compile(rf"q={SEARCH}\b"))
    expect(page.get_by_text("Showing 1–16 of 16 deployments")).to_be_visible()

    flow_header = page.get_by_role("columnheader", name=re.compile(r"^Flow"))
    flow_header.get_by_role("link").click()
    expect(flow_header).to_have_attribute("aria-sort", "ascending")
    flow_header.get_by_role("link").click()
    expect(flow_header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=-flow_name"))

    page.get_by_label("Rows per page").select_option("10")
    expect(page.get_by_text("Showing 1–10 of 16 deployments")).to_be_visible()
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Page 2").click()
    expect(page.get_by_text("Showing 11–16 of 16 deployments")).to_be_visible()

    assert_no_full_load(page)
    pushed = {name: value for name, value in query_of(page.url).items() if value}
    assert pushed == {
        "environment": str(UK_LIVE_ID),
        "q": SEARCH,
        "sort": "-flow_name",
        "per_page": "10",
        "page": "2",
    }
    expected = on_sandbox.api(
        "GET",
        "/api/v1/flow-version-deployments",
        params={
            "filter[virtual_environment_id]": UK_LIVE_ID,
            "filter[LIKE]": SEARCH,
            "sort": "-flow_name",
            "per_page": "10",
            "page": "2",
        },
    ).json()["data"]
    assert rows(page).locator("td:first-child").all_inner_texts() == [d["name"] for d in expected]
    first_row = rows(page).first.locator("td").all_inner_texts()[:6]

    shared = page.context.new_page()
    shared.goto(page.url)
    assert shared.get_by_label("Environments:").input_value() == str(UK_LIVE_ID)
    assert shared.get_by_label("Search flow names").input_value() == SEARCH
    assert shared.get_by_label("Rows per page").input_value() == "10"
    expect(shared.get_by_text("Showing 11–16 of 16 deployments")).to_be_visible()
    assert rows(shared).first.locator("td").all_inner_texts()[:6] == first_row


# 2. A deployment's detail page


@pytest.mark.browser
def test_it_opens_a_deployment_from_the_list_and_says_its_state_in_plain_words(
    page, viewer, on_sandbox
):
    item = find_deployment(on_sandbox, environment_type="live", enabled=True)
    sign_in(page, viewer)
    page.goto(list_url_for(item))
    row = page.locator(f"#deployment-row-{item['id']}")
    row.get_by_role("link", name=item["name"]).click()

    expect(page).to_have_url(re.compile(re.escape(detail_url(item)) + "$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(item["name"])
    expect(page.get_by_text("Enabled — runs on its schedule")).to_be_visible()
    environment = item["environment"]
    expect(page.get_by_text(f"{environment['name']} — a live environment")).to_be_visible()
    expect(page.get_by_text(f"version id {item['flow_version_id']}").first).to_be_visible()
    expect(page.locator("dt:text-is('Deployment id') + dd")).to_have_text(str(item["id"]))

    disabled = find_deployment(on_sandbox, environment_type="test", enabled=False)
    page.goto(detail_url(disabled))
    expect(page.get_by_text("Disabled — will not run")).to_be_visible()
    disabled_in = disabled["environment"]["name"]
    expect(page.get_by_text(f"{disabled_in} — a test environment")).to_be_visible()


# 3. and 4. Enable then disable, without a full page load


def _confirm(
    page: Page, container, *, action: str, item: dict, reason: str, script: bool = True
) -> None:
    """Press the button in `container`, check what the confirmation says, give a reason, confirm.

    With JavaScript the question comes in the page's dialog; without it, on a page of its own.
    """
    container.get_by_role("button", name=re.compile(rf"^{action.capitalize()} ")).click()
    if script:
        confirm = page.get_by_role("dialog")
    else:
        expect(page.get_by_role("heading", level=1)).to_have_text(
            f"{action.capitalize()} this deployment?"
        )
        confirm = page.locator("main .card")
    expect(confirm).to_contain_text(f"{action.capitalize()} {item['name']}")
    expect(confirm).to_contain_text(f"in {item['environment']['name']}")
    if item["environment"]["type"] == "live":
        expect(confirm).to_contain_text("This is a live environment.")
        expect(confirm).to_contain_text("real data")
    confirm.get_by_label(re.compile(r"^Reason")).fill(reason)
    confirm.get_by_role("button", name=f"Yes, {action} it").click()


def _enable_then_disable(page: Page, on_sandbox, item: dict, container_id: str, enabled_words):
    container = page.locator(f"#{container_id}")
    mark_page(page)
    on_sandbox.clear_requests()

    _confirm(page, container, action="enable", item=item, reason="Browser test: go live")
    expect(container.get_by_text(enabled_words[0])).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("is now enabled — it runs on its schedule")
    # Keyboard users keep their place: focus returns to the swapped row or panel's button.
    expect(container.get_by_role("button", name=re.compile(r"^Disable "))).to_be_focused()
    writes = upstream_writes(on_sandbox)
    assert [w["method"] for w in writes] == ["POST"]
    assert writes[0]["path"].endswith(f"/deployments/{item['id']}/enable")

    on_sandbox.clear_requests()
    _confirm(page, container, action="disable", item=item, reason="Browser test: stop")
    expect(container.get_by_text(enabled_words[1])).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("is now disabled — it will not run")
    writes = upstream_writes(on_sandbox)
    assert [w["method"] for w in writes] == ["POST"]
    assert writes[0]["path"].endswith(f"/deployments/{item['id']}/disable")

    assert_no_full_load(page)
    assert stored(on_sandbox, item).json()["data"]["enabled_at"] is None


@pytest.mark.browser
def test_it_enables_then_disables_from_a_list_row_in_place(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="live", enabled=False)
    sign_in(page, operator)
    page.goto(list_url_for(item))
    _enable_then_disable(
        page, on_sandbox, item, f"deployment-row-{item['id']}", ("● Enabled", "○ Disabled")
    )


@pytest.mark.browser
def test_it_enables_then_disables_from_the_detail_panel_in_place(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="live", enabled=False)
    sign_in(page, operator)
    page.goto(detail_url(item))
    _enable_then_disable(
        page,
        on_sandbox,
        item,
        f"deployment-panel-{item['id']}",
        ("Enabled — runs on its schedule", "Disabled — will not run"),
    )


# 5. Without JavaScript


@pytest.mark.browser
def test_it_enables_and_disables_without_javascript(browser, live_server, operator, on_sandbox):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        item = find_deployment(on_sandbox, environment_type="test", enabled=False)
        sign_in(page, operator)
        page.goto(list_url_for(item))
        on_sandbox.clear_requests()
        _confirm(
            page,
            page.locator(f"#deployment-row-{item['id']}"),
            action="enable",
            item=item,
            reason="No script",
            script=False,
        )
        expect(page).to_have_url(re.compile(re.escape(list_url_for(item))))
        expect(page.get_by_role("status").filter(has_text="is now enabled")).to_be_visible()
        expect(page.locator(f"#deployment-row-{item['id']}")).to_contain_text("● Enabled")

        page.goto(detail_url(item))
        _confirm(
            page,
            page.locator(f"#deployment-panel-{item['id']}"),
            action="disable",
            item=item,
            reason="No script",
            script=False,
        )
        expect(page).to_have_url(re.compile(re.escape(detail_url(item)) + "$"))
        expect(page.get_by_role("status").filter(has_text="is now disabled")).to_be_visible()
        expect(page.get_by_text("Disabled — will not run")).to_be_visible()
        assert [w["method"] for w in upstream_writes(on_sandbox)] == ["POST", "POST"]
    finally:
        context.close()


# 6. Create


@pytest.mark.browser
def test_it_creates_a_deployment_from_a_flow_version(page, editor, on_sandbox):
    sign_in(page, editor)
    page.goto("/deployments/")
    picker = page.get_by_role("form", name="Start a new deployment")
    picker.get_by_label("New deployment of").select_option(label=NEVER_DEPLOYED_FLOW)
    versions = picker.get_by_label("Version")
    expect(versions.locator("option").nth(1)).to_contain_text("Version")  # filled by htmx
    version_label = versions.locator("option").nth(1).inner_text()
    versions.select_option(label=version_label)
    picker.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/flow-versions/\d+/deployments/new/$"))
    flow_version = re.search(r"/flow-versions/(\d+)/", page.url).group(1)
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(rf"/flow-versions/{flow_version}/deployments/$"))
    page.get_by_role("link", name="New deployment").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("New deployment")
    page.get_by_label("Environment").select_option(label=UK_TEST)
    page.get_by_label("Priority").select_option(label="2 — high")
    page.get_by_label(re.compile(r"^Create it disabled")).check()
    page.get_by_label(re.compile(r"^Reason")).fill("Browser test")
    page.get_by_role("button", name="Create deployment").click()

    expect(page).to_have_url(re.compile(rf"/flow-versions/{flow_version}/deployments/\d+/$"))
    expect(page.get_by_role("status").filter(has_text="Created")).to_contain_text("in UK Test")
    expect(page.get_by_text("Disabled — will not run")).to_be_visible()
    expect(page.get_by_text("UK Test — a test environment")).to_be_visible()
    created = on_sandbox.api("GET", f"/api/v1/flow-versions/{flow_version}/deployments")
    assert [
        (d["virtual_environment_id"], d["priority"], d["enabled_at"])
        for d in created.json()["data"]
    ] == [(UK_TEST_ID, 2, None)]


# 7. Edit, with a conflict


@pytest.mark.browser
def test_it_shows_a_conflict_on_edit_keeps_the_input_and_saves_on_the_second_try(
    page, editor, on_sandbox
):
    item = find_deployment(on_sandbox, environment_type="test", enabled=True)
    sign_in(page, editor)
    page.goto(detail_url(item))
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Edit {item['name']}")

    theirs = 5 if item["priority"] != 5 else 4
    mine = "1 — highest"
    changed = on_sandbox.api(
        "PUT",
        f"/api/v1{detail_url(item)}".rstrip("/"),
        key="sandbox-key-admin",
        json={"priority": theirs},
    )
    assert changed.status_code == 200, changed.text

    page.get_by_label("Priority").select_option(label=mine)
    page.get_by_label(re.compile(r"^Reason")).fill("Browser test: more urgent")
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert").filter(has_text="after you opened this form")
    expect(alert).to_contain_text("changed this deployment in Patchworks")
    expect(alert).to_contain_text("Changed since you opened it: priority")
    expect(page.get_by_label("Priority")).to_have_value("1")
    expect(page.get_by_label(re.compile(r"^Reason"))).to_have_value("Browser test: more urgent")
    assert stored(on_sandbox, item).json()["data"]["priority"] == theirs

    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(re.escape(detail_url(item)) + "$"))
    expect(page.get_by_role("status").filter(has_text="Saved your changes")).to_be_visible()
    expect(page.get_by_text("1 — highest")).to_be_visible()
    assert stored(on_sandbox, item).json()["data"]["priority"] == 1


# 8. Delete


@pytest.mark.browser
def test_it_deletes_after_a_confirmation_that_names_what_goes(page, editor, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="test", enabled=False)
    sign_in(page, editor)
    page.goto(detail_url(item))
    page.get_by_role("link", name="Delete…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Delete this deployment?")
    card = page.locator("main .card")
    expect(card).to_contain_text(item["name"])
    expect(card).to_contain_text(f" version {item['flow_version_iteration']} in ")
    expect(card).to_contain_text(item["environment"]["name"])
    page.get_by_label("Reason (optional)").fill("Browser test")
    page.get_by_role("button", name="Yes, delete it").click()

    expect(page).to_have_url(re.compile(r"/deployments/$"))
    expect(page.get_by_role("status").filter(has_text="Deleted")).to_contain_text(item["name"])
    page.goto(list_url_for(item))
    expect(page.locator(f"#deployment-row-{item['id']}")).to_have_count(0)
    assert stored(on_sandbox, item).status_code == 404


# 9. Upstream failures


@pytest.mark.browser
def test_it_shows_an_upstream_failure_in_the_page_and_in_a_toast(page, operator, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="test", enabled=False)
    sign_in(page, operator)
    server_errors = crashes(page)

    on_sandbox.set_faults(error_status=503)
    page.goto("/deployments/")
    expect(page.get_by_role("alert")).to_contain_text("Patchworks is not answering properly")
    on_sandbox.clear_faults()

    page.goto(list_url_for(item))
    row = page.locator(f"#deployment-row-{item['id']}")
    on_sandbox.set_faults(error_status=503, methods=["POST"])
    _confirm(page, row, action="enable", item=item, reason="Fails")
    # The toast says what happened and stays until closed; the row keeps its state and cells.
    toast = page.locator("#toasts .toast-error")
    expect(toast).to_contain_text("Patchworks is not answering properly")
    expect(toast.get_by_role("link", name="Open the deployment")).to_have_attribute(
        "href", detail_url(item)
    )
    expect(row).to_contain_text(item["name"])
    expect(row).to_contain_text("○ Disabled")
    expect(row.get_by_role("alert")).to_have_count(0)
    toast.get_by_role("button", name="Close this message").click()
    expect(toast).to_have_count(0)
    assert server_errors == []


@pytest.mark.browser
def test_a_table_swap_that_fails_upstream_says_why_in_the_table(page, viewer, on_sandbox, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    sign_in(page, viewer)
    page.goto("/deployments/")
    expect(rows(page).first).to_be_visible()
    mark_page(page)

    on_sandbox.set_faults(error_status=503, path_contains="/flow-version-deployments")
    page.get_by_label("Rows per page").select_option("10")
    table = page.locator("#deployment-table")
    expect(table.get_by_role("alert")).to_contain_text("Patchworks is not answering properly")
    expect(page.locator("#toasts")).not_to_contain_text("Something went wrong")
    assert_no_full_load(page)


# 10. Accessibility


AXE_OPTIONS = {"resultTypes": ["violations"]}


def assert_accessible(page: Page, what: str) -> None:
    """Run axe-core (put on every page by the context's init script); list violations readably."""
    results = AxeResults(page.evaluate("options => axe.run(document, options)", AXE_OPTIONS))
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def open_page(page: Page, url: str, heading: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url} answered {response and response.status}"
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)


@pytest.mark.browser
def test_every_page_passes_axe(page, editor, on_sandbox):
    item = find_deployment(on_sandbox, environment_type="live", enabled=True)
    page.context.add_init_script(AXE_SCRIPT)
    open_page(page, "/accounts/login/", "Sign in")
    assert_accessible(page, "login page")
    sign_in(page, editor)

    open_page(
        page,
        f"/deployments/?per_page=10&environment={item['virtual_environment_id']}",
        "Deployments",
    )
    page.locator(f"#deployment-row-{item['id']}").get_by_role("button").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_accessible(page, "list page with the confirmation open")
    page.get_by_role("button", name="No, leave it as it is").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    open_page(page, detail_url(item), item["name"])
    assert_accessible(page, "detail page")
    open_page(page, detail_url(item) + "edit/", "Edit")
    assert_accessible(page, "edit form")
    open_page(page, f"/flow-versions/{item['flow_version_id']}/deployments/", item["name"])
    assert_accessible(page, "a flow version's deployments")
    open_page(page, f"/flow-versions/{item['flow_version_id']}/deployments/new/", "New deployment")
    assert_accessible(page, "create form")
    # The flow version is already deployed there: Patchworks' errors show against the fields.
    page.get_by_label("Environment").select_option(str(item["virtual_environment_id"]))
    page.get_by_label(re.compile(r"^Reason")).fill("axe check")
    page.get_by_role("button", name="Create deployment").click()
    expect(
        page.locator(".field", has=page.get_by_label("Environment")).locator(".errorlist")
    ).to_be_visible()
    assert_accessible(page, "create form with Patchworks' errors")
    open_page(page, detail_url(item) + "delete/", "Delete this deployment?")
    assert_accessible(page, "delete confirmation")
    open_page(page, "/audit/", "Audit")
    assert_accessible(page, "audit log")
    open_page(page, "/account/api-key/", "My API key")
    assert_accessible(page, "API key page")
