"""In a real Chromium, through the local OpenID Connect provider (its own process): sign in,
get the role the groups map to, sign out at the provider too; a leaver deactivated over SCIM
loses their session, key, requests, schedules and jobs at once."""

from __future__ import annotations

import io
import re

import pytest
import requests
from axe_playwright_python.base import AXE_SCRIPT, AxeResults
from django.core.management import call_command
from playwright.sync_api import Page, expect

from deployments_ui.accounts.credentials import store_api_key
from deployments_ui.accounts.sso import role_names
from deployments_ui.models import ApiCredential, AuditEvent, SsoIdentity
from tests.browser import sign_in
from tests.factories import make_user
from tests.idp_fixtures import PASSWORD
from tests.leavers.things import assert_all_stopped, leave_things_running

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def axe_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def assert_accessible(page: Page, what: str) -> None:
    results = AxeResults(
        page.evaluate("options => axe.run(document, options)", {"resultTypes": ["violations"]})
    )
    assert results.violations_count == 0, f"{what}: {results.generate_report()}"


def through_the_provider(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Local IdP").click()
    expect(page.get_by_role("heading", name="Local identity provider")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in to the identity provider").click()
    page.wait_for_load_state()


def test_sign_in_with_the_provider_get_the_role_and_sign_out_there_too(
    axe_page, roles, oidc_provider, live_server
):
    page = axe_page
    page.goto("/accounts/login/")
    assert_accessible(page, "the sign-in page with the provider's button")

    through_the_provider(page, "olga@example.com")
    # Back in the console as Olga: her group console-operators made her an Operator.
    expect(page).to_have_url(re.compile(r"/account/api-key/$"))
    expect(page.get_by_text("the console needs your Patchworks API key")).to_be_visible()
    person = SsoIdentity.objects.get(identity="olga@example.com").user
    assert role_names(person) == ["Operator"]
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    # The provider ended its session and sent the browser back to the sign-in page.
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_text("You have signed out")).to_be_visible()
    page.goto("/account/api-key/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    # Signed out at the provider too: it asks for the password again.
    page.get_by_role("link", name="Sign in with Local IdP").click()
    expect(page.get_by_role("heading", name="Local identity provider")).to_be_visible()


def test_a_misconfigured_provider_is_explained_in_plain_words(axe_page, roles, settings):
    settings.OIDC_RP_CLIENT_ID = "console"
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_PROVIDER_NAME = "Okta"
    settings.OIDC_TIMEOUT = 5
    page = axe_page
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Okta").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in with Okta did not work")
    expect(page.get_by_role("alert")).to_contain_text("could not reach Okta")
    assert_accessible(page, "the misconfigured provider's page")
    page.get_by_role("link", name="Back to the sign-in page").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def test_a_leaver_deactivated_over_scim_is_stopped_everywhere(
    browser, live_server, roles, oidc_provider, settings
):
    settings.SSO_DEFAULT_ROLE = "Viewer"
    out = io.StringIO()
    call_command("scim_token", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    admin = make_user("adam", "Admin", full_name="Adam Admin", api_key="sandbox-key-admin")
    colleague = make_user("cole", "Operator", full_name="Cole League")

    leaver_desk = browser.new_context(base_url=live_server.url)
    leaver_page = leaver_desk.new_page()
    through_the_provider(leaver_page, "eddie@example.com")
    expect(leaver_page).to_have_url(re.compile(r"/account/api-key/$"))
    leaver = SsoIdentity.objects.get(identity="eddie@example.com").user
    store_api_key(leaver, "sandbox-key-editor")
    things = leave_things_running(leaver, colleague)

    # The identity provider switches Eddie off (Okta's body).
    found = requests.get(
        f"{live_server.url}/scim/v2/Users",
        params={"filter": 'userName eq "eddie@example.com"'},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    user_id = found["Resources"][0]["id"]
    response = requests.patch(
        f"{live_server.url}/scim/v2/Users/{user_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["active"] is False

    # His browser is signed out at its next page.
    leaver_page.goto("/account/api-key/")
    expect(leaver_page).to_have_url(re.compile(r"/accounts/login/\?next="))
    leaver_desk.close()
    assert not ApiCredential.objects.filter(user=leaver).exists()
    assert_all_stopped(things, "provisioning (SCIM)")

    # The admin reads what happened in the audit log.
    admin_desk = browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris")
    admin_page = admin_desk.new_page()
    sign_in(admin_page, admin)
    admin_page.goto("/audit/")
    log = admin_page.locator("main")
    expect(log).to_contain_text("deactivated eddie@example.com")
    expect(log).to_contain_text("ended every session of eddie@example.com (1)")
    expect(log).to_contain_text("removed the Patchworks API key of eddie@example.com")
    expect(log).to_contain_text("stopped bulk job")
    admin_desk.close()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"deactivated", "sessions_ended", "api_key_removed", "withdraw", "unschedule"} <= actions
    assert "bulk_stopped" in actions
