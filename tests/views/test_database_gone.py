"""The console's own database going away: a plain 503 page, never a 500 or a traceback, and no
claim that nothing was sent once a write went to Patchworks. (tests/faults/ cuts a real
PostgreSQL; here the error is raised where the database would raise it.)"""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import InterfaceError, OperationalError
from django.test import Client

from deployments_ui.deployments import reads
from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, deployment_url, find_deployment

pytestmark = pytest.mark.django_db

LOST = "server closed the connection unexpectedly"


@pytest.fixture
def browser(operator, on_sandbox) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


def lose_the_database(*args, **kwargs):
    raise OperationalError(LOST)


def assert_plain_503(response, words: str) -> None:
    assert response.status_code == 503
    html = response.content.decode()
    assert "The console cannot reach its database" in html
    assert words in html
    assert LOST not in html and "Traceback" not in html
    assert response["Retry-After"]


def test_a_page_whose_view_loses_the_database_is_a_plain_503(browser, monkeypatch):
    monkeypatch.setattr(reads, "pickers_get", lose_the_database)

    response = browser.get("/deployments/")

    assert_plain_503(response, "nothing was changed and nothing was sent to Patchworks")


def test_a_session_that_cannot_be_read_is_a_plain_503(browser, monkeypatch):
    # The middleware reads the session before any view runs.
    monkeypatch.setattr(SessionStore, "load", lambda self: lose_the_database())

    response = browser.get("/audit/")

    assert_plain_503(response, "nothing was changed")


def test_a_broken_connection_is_a_plain_503_too(browser, monkeypatch):
    def closed(**kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(reads, "pickers_get", closed)

    assert browser.get("/deployments/").status_code == 503


def test_a_change_sent_before_the_database_went_is_not_called_unsent(
    browser, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=False, live=False)
    named, calls = reads.named, []

    def named_until_the_write(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the read before the write names it first; then Patchworks answers
            lose_the_database()
        return named(*args, **kwargs)

    monkeypatch.setattr(reads, "named", named_until_the_write)

    response = browser.post(deployment_url(item, "enable/"), {"reason": "go live"})

    assert_plain_503(response, "may or may not have been made")
    assert "nothing was sent" not in response.content.decode()
    assert len(api_writes(on_sandbox)) == 1
    # The attempt stands without an outcome: the worker settles it by reading.
    [attempt] = AuditEvent.objects.filter(action="enable", outcome="pending")
    assert not attempt.results.exists()


def test_any_other_crash_is_still_the_plain_500(browser, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reads, "pickers_get", crash)

    response = browser.get("/deployments/")

    assert response.status_code == 500
    assert "Something went wrong in the console" in response.content.decode()
