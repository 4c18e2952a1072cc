"""Enable and disable overlap the console's own work with Patchworks' round trips: the state read
starts as soon as the person is known, and a fragment leaves before its success is recorded."""

from __future__ import annotations

import logging
from concurrent.futures import Future

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django_htmx.middleware import HtmxDetails

from deployments_ui.accounts import access
from deployments_ui.models import AuditEvent
from deployments_ui.views.deployment_changes import deployment_enable
from deployments_ui.views.pages import answer_then
from tests.deployments import api_writes, deployment_url, find_deployment, read_back

pytestmark = pytest.mark.django_db


def outcomes() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("outcome", flat=True))


def reads_of(sandbox, item: dict) -> list[dict]:
    path = deployment_url(item).replace("/flow-versions/", "/api/v1/flow-versions/").rstrip("/")
    return [r for r in sandbox.requests() if r["method"] == "GET" and r["path"] == path]


def sent(response: HttpResponse) -> None:
    """What the server does once the answer is sent (the test client does the same: it keeps
    the test's database connection open)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def enable_request(user, item: dict, *, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    data = {"reason": "supplier back", "fragment": "row", "next": "/deployments/"}
    request = RequestFactory().post(deployment_url(item, "enable/"), data, headers=headers)
    request.user, request.session = user, SessionStore()
    request._messages = FallbackStorage(request)
    request.htmx = HtmxDetails(request)
    return request


def test_a_fragment_leaves_before_its_success_is_recorded(operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    request = enable_request(operator, item, htmx=True)

    response = deployment_enable(
        request, flow_version=item["flow_version_id"], deployment=item["id"]
    )

    assert response.status_code == 200
    assert read_back(on_sandbox, item)["enabled_at"]  # the write was made
    assert outcomes() == ["pending"]  # the attempt was recorded before it
    sent(response)
    assert outcomes() == ["pending", "succeeded"]
    assert AuditEvent.objects.get(outcome="succeeded").after["enabled"] is True


def test_without_htmx_the_success_is_recorded_before_the_redirect(operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    request = enable_request(operator, item, htmx=False)

    response = deployment_enable(
        request, flow_version=item["flow_version_id"], deployment=item["id"]
    )

    assert response.status_code == 302
    assert outcomes() == ["pending", "succeeded"]  # the next page may show the trail at once


def test_work_left_for_after_the_answer_is_done_at_once_when_the_answer_fails():
    done: list[str] = []

    def broken() -> HttpResponse:
        raise RuntimeError("the template failed")

    with pytest.raises(RuntimeError):
        answer_then(broken, [lambda: done.append("recorded")])
    assert done == ["recorded"]


def test_work_that_fails_after_the_answer_is_logged_not_raised(caplog):
    def failing() -> None:
        raise ValueError("no database")

    response = answer_then(lambda: HttpResponse("ok"), [failing])
    with caplog.at_level(logging.ERROR):
        sent(response)
    assert "Work left for after an answer was sent failed" in caplog.text


def test_the_state_read_is_on_its_way_before_the_access_check(
    client, operator, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=False)
    seen: list[object] = []
    check = access.AccessMiddleware.process_view

    def watching(self, request, *args):
        seen.append(getattr(request, "change_read", None))
        return check(self, request, *args)

    monkeypatch.setattr(access.AccessMiddleware, "process_view", watching)
    client.force_login(operator)
    on_sandbox.clear_requests()

    response = client.post(
        deployment_url(item, "enable/"), {"reason": "back"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert len(seen) == 1 and isinstance(seen[0], Future)
    assert len(reads_of(on_sandbox, item)) == 1  # the read ahead is the one read
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["enable"]
    assert outcomes() == ["pending", "succeeded"]


def test_a_refused_toggle_reads_ahead_but_shows_and_changes_nothing(client, viewer, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    client.force_login(viewer)
    on_sandbox.clear_requests()

    response = client.post(deployment_url(item, "enable/"), headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert item["name"] not in response.content.decode()
    assert api_writes(on_sandbox) == []
    assert outcomes() == ["refused"]


def test_a_forged_post_reads_nothing(operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(operator)
    on_sandbox.clear_requests()

    response = forged.post(deployment_url(item, "enable/"), {"reason": "x"})

    assert response.status_code == 403
    assert on_sandbox.requests() == []
    assert outcomes() == []


def test_the_ask_page_shows_the_read_made_ahead(client, operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    client.force_login(operator)
    on_sandbox.clear_requests()

    page = client.post(deployment_url(item, "enable/"), {"ask": "1"})

    assert page.status_code == 200
    assert "Enable" in page.content.decode()
    assert len(reads_of(on_sandbox, item)) == 1
    assert api_writes(on_sandbox) == []
