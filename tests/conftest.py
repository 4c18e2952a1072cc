"""Shared fixtures: named people per role, their keys, and a real Chromium for the journeys."""

from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

pytest_plugins = ["tests.sandbox_fixtures", "tests.fixtures_auth"]

CHROMIUM = os.environ.get("CONSOLE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"


def make_user(
    username: str, role: str | None, *, full_name: str = "", api_key: str | None = None
) -> User:
    """A person with one role (a Django group) and, if given, a stored Patchworks key."""
    from deployments_ui.accounts.credentials import store_api_key
    from tests.fixtures_auth import ensure_roles

    # Transactional tests (live server, browser) empty every table, the migrated roles included.
    ensure_roles()
    first, _, last = full_name.partition(" ")
    user = User.objects.create_user(
        username, f"{username}@example.com", PASSWORD, first_name=first, last_name=last
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    if api_key:
        store_api_key(user, api_key)
    return user


@pytest.fixture(autouse=True)
def _fresh_cache():
    from deployments_ui.views.health import READINESS_CHECKS

    def forget() -> None:
        cache.clear()
        for check in READINESS_CHECKS.values():
            getattr(check, "forget", lambda: None)()

    forget()
    yield
    forget()


@pytest.fixture
def viewer(db) -> User:
    return make_user("vera", "Viewer", full_name="Vera Viewer", api_key="sandbox-key-viewer")


@pytest.fixture
def operator(db) -> User:
    return make_user(
        "oscar", "Operator", full_name="Oscar Operator", api_key="sandbox-key-operator"
    )


@pytest.fixture
def editor(db) -> User:
    return make_user("edie", "Editor", full_name="Edie Editor", api_key="sandbox-key-editor")


@pytest.fixture
def admin_user(db) -> User:
    user = make_user("adam", "Admin", full_name="Adam Admin", api_key="sandbox-key-admin")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def no_role_user(db) -> User:
    return make_user("nora", None, full_name="Nora Norole")


@pytest.fixture
def keyless_operator(db) -> User:
    return make_user("kim", "Operator", full_name="Kim Keyless")


@pytest.fixture
def on_sandbox(sandbox, settings):
    """Point the console at the live sandbox for this test."""
    settings.PATCHWORKS_BASE_URL = sandbox.url
    return sandbox


# A real browser


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(
            f"browser tests skipped: Chromium not found at {CHROMIUM} (make test installs it)"
        )
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, user: User, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
