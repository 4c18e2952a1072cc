"""The request's own work done once, and a second upstream read sent beside the first."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments_ui.accounts import credentials, scopes
from deployments_ui.core import overlap

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="")


def test_a_started_call_runs_in_another_thread_with_the_requests_context():
    marker.set("request 7")
    seen = {}

    def call():
        seen["thread"], seen["marker"] = threading.current_thread(), marker.get()
        return 42

    assert overlap.started(call).result(timeout=5) == 42
    assert seen["thread"] is not threading.current_thread()
    assert seen["marker"] == "request 7"


def test_two_started_calls_wait_for_the_slower_not_for_both():
    begun = time.perf_counter()
    first = overlap.started(lambda: time.sleep(0.3))
    second = overlap.started(lambda: time.sleep(0.3))
    first.result(timeout=5), second.result(timeout=5)
    assert time.perf_counter() - begun < 0.55


def test_a_started_calls_error_reaches_the_caller():
    def fails():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        overlap.started(fails).result(timeout=5)


def test_alongside_runs_the_call_in_another_thread_and_meanwhile_in_this_one():
    threads = {}

    def call():
        threads["call"] = threading.current_thread()
        return "answer"

    def meanwhile():
        threads["meanwhile"] = threading.current_thread()

    assert overlap.alongside(call, meanwhile) == "answer"
    assert threads["call"] is not threading.current_thread()
    assert threads["meanwhile"] is threading.current_thread()


def test_a_failing_meanwhile_is_logged_and_the_calls_own_ending_stands(caplog):
    def meanwhile():
        raise RuntimeError("preparing failed")

    def fails():
        raise ValueError("the call's own error")

    assert overlap.alongside(lambda: 42, meanwhile) == 42
    assert "preparing failed" in caplog.text
    with pytest.raises(ValueError, match="the call's own error"):
        overlap.alongside(fails, meanwhile)


@pytest.mark.django_db
def test_a_key_is_read_once_per_request_and_forgotten_after(operator):
    credentials.store_api_key(operator, "first-key-0001")
    with credentials.keys_remembered():
        with CaptureQueriesContext(connection) as reads:
            assert credentials.api_key_for(operator) == "first-key-0001"
            assert credentials.api_key_for(operator) == "first-key-0001"
        assert len(reads) == 1
        # A key saved during the request is the one used from then on.
        credentials.store_api_key(operator, "second-key-0002")
        assert credentials.api_key_for(operator) == "second-key-0002"
        credentials.remove_api_key(operator)
        with pytest.raises(credentials.MissingApiKey):
            credentials.api_key_for(operator)
    credentials.store_api_key(operator, "third-key-0003")
    with CaptureQueriesContext(connection) as reads:
        assert credentials.api_key_for(operator) == "third-key-0003"
        assert credentials.api_key_for(operator) == "third-key-0003"
    assert len(reads) == 2  # outside a request nothing is remembered


@pytest.mark.django_db
def test_permissions_at_a_place_are_worked_out_again_after_forget(operator):
    held = scopes.permissions_at(operator)
    assert "deployments_ui.toggle_deployments" in held
    operator.groups.clear()
    assert scopes.permissions_at(operator) == held  # remembered for this user object
    scopes.forget(operator)
    assert "deployments_ui.toggle_deployments" not in scopes.permissions_at(operator)


def test_a_call_that_needs_the_database_after_all_is_made_again_on_this_thread():
    where = []

    def call():
        where.append(threading.current_thread())
        if overlap.elsewhere():
            raise overlap.OnlyOnRequestThread()
        return "answered"

    assert overlap.elsewhere() is False
    assert overlap.result_here(overlap.started(call), call) == "answered"
    assert where[0] is not threading.current_thread()
    assert where[1] is threading.current_thread()
