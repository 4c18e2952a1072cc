"""Shared fixtures: named people per role, their keys, and a real Chromium for the journeys.

Only fixtures live here; the helpers that build people, deployments and events are in
`tests/factories.py`.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connections

from tests.factories import ROLES, ensure_roles, make_user

pytest_plugins = ["tests.sandbox_fixtures", "tests.idp_fixtures"]


def _flush_past_the_audit_guard() -> None:
    """Let Django empty tables between transactional tests on PostgreSQL.

    The audit table refuses TRUNCATE (migration 0007), and Django's flush is one TRUNCATE of
    every table. The test database belongs to a superuser, so the flush skips triggers for its
    own transaction only (`SET LOCAL session_replication_role = replica`); production roles
    cannot do this.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if not statements:
            return statements
        return ["SET LOCAL session_replication_role = replica", *statements]

    DatabaseOperations.sql_flush = sql_flush


_flush_past_the_audit_guard()


def pytest_sessionstart(session) -> None:
    """The German pages need the compiled catalogue (`make` builds it; a bare pytest too)."""
    from django.core.management import call_command

    call_command("compile_translations", verbosity=0)


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


@pytest.fixture(autouse=True)
def _role_groups(request):
    """Every test with a database finds the four role groups.

    A data migration makes them, and a transactional test (live server, browser) ends by
    emptying every table: without this, a test that runs after one finds no roles.
    """
    if request.node.get_closest_marker("django_db") is None:
        names = set(request.fixturenames)
        if names & {"transactional_db", "live_server"}:
            request.getfixturevalue("transactional_db")
        elif "db" in names:
            request.getfixturevalue("db")
        else:
            return
    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        ensure_roles()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from deployments_ui.changes.rules import forget_snapshots
    from deployments_ui.core.kept import forget_everything
    from deployments_ui.views.health import READINESS_CHECKS

    def forget() -> None:
        cache.clear()
        forget_snapshots()
        forget_everything()
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
def auditor(db) -> User:
    return make_user(
        "audrey", "Auditor", full_name="Audrey Auditor", api_key="sandbox-key-readonly"
    )


@pytest.fixture
def no_role_user(db) -> User:
    return make_user("nora", None, full_name="Nora Norole")


@pytest.fixture
def keyless_operator(db) -> User:
    return make_user("kim", "Operator", full_name="Kim Keyless")


@pytest.fixture
def ann(db) -> User:
    """An Operator named Ann Smith, the person in the audit trail's example sentences."""
    return make_user("ann", "Operator", full_name="Ann Smith")


@pytest.fixture
def roles(transactional_db) -> None:
    """The role groups, for transactional tests (see factories.ensure_roles)."""
    ensure_roles()


@pytest.fixture
def flow_health_minute(monkeypatch):
    """Flow health's clock held at the moment the test began, until the test moves it
    (`flow_health_minute.now = ...`): its runs are read once a minute per key."""
    from types import SimpleNamespace

    from django.utils import timezone

    from deployments_ui.flow_health import reading

    began = timezone.now()
    clock = SimpleNamespace(now=lambda: began)
    monkeypatch.setattr(reading, "timezone", clock)
    return clock


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
        # While Playwright's event loop runs, Django keeps this thread's database connections
        # apart from the others (asgiref sees an async thread): closed here, or they outlive
        # the run and PostgreSQL refuses to drop the test database.
        connections.close_all()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
