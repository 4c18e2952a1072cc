"""A 429 from Patchworks never turns a request into a 500: every page, every action and the
readiness probe, against the sandbox's own rate-limit fault (every call answered 429)."""

from __future__ import annotations

import pytest

from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, deployment_url, find_deployment

pytestmark = pytest.mark.django_db

PAGES = [
    "/deployments/",
    "/deployments/?q=orders&sort=-priority",
    "/flow-versions/{fv}/deployments/",
    "{detail}",
    "{detail}edit/",
    "{detail}delete/",
    "{detail}schedule/",
    "/flow-versions/{fv}/deployments/new/",
    "/pickers/flow-versions/?flow_version={fv}",
    "/deployments/bulk/?q=orders",
    "/jobs/",
    "/schedules/",
    "/calendar/",
    "/changes/",
    "/audit/",
    "/settings/worker/",
    "/settings/change-control/",
    "/settings/freeze-windows/",
    "/settings/webhooks/",
    "/settings/notifications/",
    "/account/api-key/",
    "/settings/service-key/",
]


@pytest.fixture
def rate_limited(client, admin_user, on_sandbox, settings):
    """An Admin signed in (every page is theirs to see), Patchworks answering only 429s."""
    settings.PATCHWORKS_GET_RETRIES = 0
    client.force_login(admin_user)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.set_faults(error_status=429, retry_after=3)
    return client, item


@pytest.mark.parametrize("page", PAGES)
def test_no_page_turns_a_429_into_a_500(rate_limited, page):
    client, item = rate_limited
    url = page.format(detail=deployment_url(item), fv=item["flow_version_id"])

    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(url, **htmx)
        assert response.status_code != 500, (url, htmx)
        assert response.status_code < 500 or response.status_code == 503, (url, htmx)


def test_the_readiness_probe_answers_through_a_429(client, on_sandbox):
    on_sandbox.set_faults(error_status=429, retry_after=30)

    for method in (client.get, client.head):
        response = method("/readyz")
        assert response.status_code == 200

    assert client.get("/readyz").json()["checks"]["patchworks"] is True


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_an_action_that_meets_a_429_says_so_and_changes_nothing(rate_limited, on_sandbox, action):
    client, item = rate_limited
    if action == "enable":
        on_sandbox.clear_faults()
        item = find_deployment(on_sandbox, enabled=False, live=False)
        on_sandbox.set_faults(error_status=429, retry_after=3)
    on_sandbox.clear_requests()

    response = client.post(deployment_url(item, f"{action}/"), HTTP_HX_REQUEST="true")

    assert response.status_code == 429
    assert not api_writes(on_sandbox)
    assert not AuditEvent.objects.filter(outcome="succeeded", action=action).exists()


def test_the_health_of_runs_meets_a_429_without_a_500(rate_limited, on_sandbox):
    client, item = rate_limited
    on_sandbox.clear_faults()
    client.post(deployment_url(item, "disable/"), {"reason": "test"}, HTTP_HX_REQUEST="true")
    event = AuditEvent.objects.filter(action="disable", completes__isnull=True).latest("id")
    on_sandbox.set_faults(error_status=429, retry_after=3)

    response = client.get(f"/audit/{event.pk}/")

    assert response.status_code == 200


def test_an_undo_or_a_schedule_that_meets_a_429_says_so_and_changes_nothing(
    rate_limited, on_sandbox
):
    client, item = rate_limited
    on_sandbox.clear_faults()
    client.post(deployment_url(item, "disable/"), {"reason": "test"}, HTTP_HX_REQUEST="true")
    event = AuditEvent.objects.filter(action="disable", completes__isnull=True).latest("id")
    on_sandbox.set_faults(error_status=429, retry_after=3)
    on_sandbox.clear_requests()

    undo = client.post(f"/audit/{event.pk}/undo/", {"reason": "back on", "confirmed": "1"})
    schedule = client.post(
        deployment_url(item, "schedule/"),
        {"action": "enable", "at": "2099-01-01T10:00", "reason": "later"},
    )

    assert undo.status_code == 429
    assert "try again in 3 seconds" in undo.content.decode()
    assert "Nothing was changed" in undo.content.decode()
    assert schedule.status_code != 500 and schedule.status_code < 500
    assert not api_writes(on_sandbox)
