"""Notifications end to end in a real Chromium, with the console and a real Huey consumer in
processes of their own: an admin adds a webhook to a local receiver and subscribes to live
changes, disables a live deployment, and sees the event arrive at the receiver."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect

from deployments_ui.notifications import receiver as receivers
from tests.browser.test_deployments import (
    _confirm,
    assert_accessible,
    find_deployment,
    list_url_for,
)
from tests.notifications.test_delivery import verify
from tests.worker.test_consumer import REPO, Worker

PASSWORD = "correct-horse-battery"
BOUND = 30.0  # seconds: far above what it takes

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receiver():
    running = receivers.start()
    yield running
    running.stop()


@pytest.fixture
def console(tmp_path, sandbox):
    """The console (runserver) and a consumer sharing one SQLite database, against the sandbox."""
    worker = Worker(tmp_path, sandbox.url, redis=False)
    worker.env.update(
        {
            "DJANGO_DEBUG": "true",
            "CONSOLE_WEBHOOK_ALLOW_HTTP": "true",
            "CONSOLE_WEBHOOK_ALLOW_PRIVATE": "true",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    worker.run("manage.py", "migrate", "--noinput", "-v", "0")
    worker.run("-m", "tests.notifications.harness", "admin", PASSWORD)
    worker.start()
    port = free_port()
    log = (tmp_path / "console.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO,
        env=worker.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker.processes.append(server)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError((tmp_path / "console.log").read_text()) from None
            time.sleep(0.2)
    yield url, worker
    worker.stop_all()


@pytest.mark.browser
def test_an_admin_hooks_up_a_receiver_and_sees_a_live_change_arrive(
    browser, console, sandbox, receiver
):
    console_url, worker = console
    item = find_deployment(sandbox, environment_type="live", enabled=True)
    context = browser.new_context(base_url=console_url, timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("adam")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name="Add a webhook").click()
        page.get_by_label("Name", exact=True).fill("Ops receiver")
        page.get_by_label("Address (URL)").fill(receiver.url + "ops")
        page.get_by_label("Generic JSON").check()
        page.locator("#field-environment_types").get_by_label("Live").check()
        assert_accessible(page, "the webhook form")
        page.get_by_role("button", name="Add the webhook").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhook “Ops receiver” added")
        secret = page.locator("#webhook-secret").inner_text()
        assert secret.startswith("whsec_")
        page.get_by_role("link", name="I have copied it").click()
        expect(page.get_by_text(secret)).to_have_count(0)

        page.get_by_role("link", name="Notifications").click()
        page.get_by_label("Name", exact=True).fill("Live changes")
        page.locator("#field-environment_types").get_by_label("Live").check()
        assert_accessible(page, "the notifications page")
        page.get_by_role("button", name="Save the notification").click()
        expect(page.locator("#subscription-1")).to_contain_text("live environments")

        page.goto(list_url_for(item))
        row = page.locator(f"#deployment-row-{item['id']}")
        _confirm(page, row, action="disable", item=item, reason="Told by webhook")
        expect(page.locator("#toasts")).to_contain_text("is now disabled")

        deadline = time.monotonic() + BOUND
        while not receiver.received:
            assert time.monotonic() < deadline, f"nothing arrived\n{worker.logs()}"
            time.sleep(0.2)
        page.goto(receiver.url)
        expect(page.get_by_text("1 received")).to_be_visible()
        expect(page.locator("li pre")).to_contain_text("Adam Admin disabled")
        got = receiver.received[0]
        assert got.path == "/ops" and verify(secret, got.headers, got.body)
        assert got.json()["reason"] == "Told by webhook"

        page.goto(f"{console_url}/settings/webhooks/1/")
        expect(page.locator("#delivery-log")).to_contain_text(re.compile(r"Delivered\s+\(200\)"))
    finally:
        context.close()
