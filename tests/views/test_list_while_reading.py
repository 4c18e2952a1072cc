"""The list is prepared while Patchworks' answer travels, from the last answer to the same read,
and that page is shown only when the answer is the same; the runs behind flow health are read
once a minute per key."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta

import pytest

from deployments_ui.deployments import reads
from deployments_ui.patchworks import budget
from tests.deployments import find_deployment

pytestmark = pytest.mark.django_db

TABLE = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def minute(flow_health_minute):
    return flow_health_minute


def next_minute(clock) -> None:
    later = clock.now() + timedelta(minutes=1)
    clock.now = lambda: later


def upstream_paths(sandbox) -> list[str]:
    return sorted(entry["path"] for entry in sandbox.requests())


def row_of(html: str, deployment_id) -> str:
    start = html.index(f'id="deployment-row-{deployment_id}"')
    return html[start : html.index("</tr>", start)]


def test_the_runs_are_read_once_a_minute_per_key(client, viewer, operator, on_sandbox, minute):
    client.force_login(viewer)
    client.get("/deployments/")
    on_sandbox.clear_requests()
    client.get("/deployments/?sort=flow_name")
    assert upstream_paths(on_sandbox) == ["/api/v1/flow-version-deployments"]

    on_sandbox.clear_requests()
    client.force_login(operator)  # another key reads for itself
    client.get("/deployments/?sort=flow_name")
    assert "/api/v1/flow-runs" in upstream_paths(on_sandbox)

    on_sandbox.clear_requests()
    next_minute(minute)
    client.get("/deployments/?sort=flow_name")
    assert upstream_paths(on_sandbox) == ["/api/v1/flow-runs", "/api/v1/flow-version-deployments"]


def test_a_changed_answer_is_shown_not_the_page_prepared_from_the_last(
    client, operator, on_sandbox, minute
):
    client.force_login(operator)
    item = find_deployment(on_sandbox, enabled=True)
    url = f"/deployments/?per_page=100&sort=created_at&environment={item['virtual_environment_id']}"
    first = client.get(url, **TABLE).content.decode()
    assert "Enabled" in row_of(first, item["id"])
    on_sandbox.api(
        "POST", f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable"
    )
    second = client.get(url, **TABLE).content.decode()
    assert "Disabled" in row_of(second, item["id"])
    assert second.count('id="deployment-row-') == first.count('id="deployment-row-')


def test_a_reading_says_whether_the_answer_was_the_one_guessed(
    operator, viewer, on_sandbox, minute
):
    query = reads.DeploymentQuery(per_page=10)
    first = reads.deployment_list_reading(user=operator, query=query)
    assert first.guessed() is None
    page, _ = first.result()
    assert first.as_guessed is False

    again = reads.deployment_list_reading(user=operator, query=query)
    guessed_page, _ = again.guessed()
    assert guessed_page == page
    assert again.result()[0] == page and again.as_guessed is True

    assert reads.deployment_list_reading(user=viewer, query=query).guessed() is None
    other = reads.deployment_list_reading(user=operator, query=reads.DeploymentQuery(per_page=5))
    assert other.guessed() is None


def test_nothing_is_guessed_when_the_runs_of_this_minute_are_not_at_hand(
    operator, on_sandbox, minute
):
    query = reads.DeploymentQuery(per_page=10)
    reads.deployment_list_reading(user=operator, query=query).result()
    next_minute(minute)
    reading_now = reads.deployment_list_reading(user=operator, query=query)
    assert reading_now.guessed() is None
    reading_now.result()
    assert reading_now.as_guessed is False


def test_a_failed_read_is_said_even_after_a_guess(client, operator, on_sandbox, settings, minute):
    settings.PATCHWORKS_GET_RETRIES = 0
    client.force_login(operator)
    assert 'id="deployment-row-' in client.get("/deployments/", **TABLE).content.decode()
    on_sandbox.set_faults(error_status=503, path_contains="/flow-version-deployments")
    response = client.get("/deployments/", **TABLE)
    assert response.status_code == 502
    assert 'id="deployment-row-' not in response.content.decode()
    assert "not answering properly" in response.content.decode()


def test_the_page_prepared_meanwhile_is_sent_compressed_like_any_other(
    client, operator, on_sandbox, minute
):
    client.force_login(operator)
    url = "/deployments/?per_page=50"
    pages = [client.get(url, HTTP_ACCEPT_ENCODING="gzip") for _ in range(2)]
    for response in pages:
        assert response.status_code == 200
        assert response["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response["Vary"] and "HX-Request" in response["Vary"]
        html = gzip.decompress(response.content).decode()
        assert html.count('id="deployment-row-') == 50
    rows = [
        re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]*"', "", gzip.decompress(page.content).decode()
        )
        .split("<tbody", 1)[1]
        .split("</tbody>")[0]
        for page in pages
    ]
    assert rows[0] == rows[1]


def test_the_same_answer_is_parsed_once(operator, on_sandbox, minute, monkeypatch):
    from deployments_ui.patchworks import client as client_module

    parsed = []
    real = client_module.parse_page
    monkeypatch.setattr(
        client_module, "parse_page", lambda *a, **k: parsed.append(1) or real(*a, **k)
    )
    query = reads.DeploymentQuery(per_page=10)
    first = reads.deployment_list_reading(user=operator, query=query).result()[0]
    again = reads.deployment_list_reading(user=operator, query=query).result()[0]
    assert again == first and again.items[0] is first.items[0]
    other = reads.deployment_list_reading(user=operator, query=reads.DeploymentQuery(per_page=5))
    assert len(other.result()[0].items) == 5
    assert sum(parsed) == 3  # the runs, the first page, the other page


def test_the_same_bytes_are_decoded_once(operator, on_sandbox, minute, monkeypatch):
    import requests

    decoded = []
    real = requests.Response.json
    monkeypatch.setattr(
        requests.Response, "json", lambda self, **k: decoded.append(self.url) or real(self, **k)
    )
    query = reads.DeploymentQuery(per_page=10)
    first = reads.deployment_list_reading(user=operator, query=query).result()[0]
    on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{first.items[0].flow_version_id}/deployments/"
        f"{first.items[0].id}/{'disable' if first.items[0].is_enabled else 'enable'}",
    )
    changed = reads.deployment_list_reading(user=operator, query=query).result()[0]
    again = reads.deployment_list_reading(user=operator, query=query).result()[0]
    assert changed.items[0].is_enabled != first.items[0].is_enabled
    assert again == changed
    lists = [url for url in decoded if "/flow-version-deployments?" in url]
    assert len(lists) == 2  # the first answer and the changed one; the same bytes again: none


def test_a_page_never_waits_for_the_budget_to_fill_a_version_number(operator, on_sandbox, settings):
    import time
    from dataclasses import replace

    found = reads.deployment_list_reading(user=operator, query=reads.DeploymentQuery(per_page=5))
    unnumbered = [replace(item, flow_version_iteration=None) for item in found.result()[0].items]
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 20  # a burst of 2, then one every 3 s
    spend_the_whole_budget()
    on_sandbox.clear_requests()
    started = time.monotonic()
    named = reads.named(operator, unnumbered)
    assert time.monotonic() - started < 1.0
    assert [item.flow_version_iteration for item in named] == [None] * len(unnumbered)
    assert on_sandbox.requests() == []


def _unnumbered(user) -> list:
    from dataclasses import replace

    found = reads.deployment_list_reading(user=user, query=reads.DeploymentQuery(per_page=5))
    return [replace(item, flow_version_iteration=None) for item in found.result()[0].items]


def test_version_numbers_are_filled_only_from_budget_to_spare(operator, on_sandbox, settings):
    """Filling version numbers in takes only what nobody else is using: once people are reading,
    it waits for a later view, and their share is all theirs."""

    unnumbered = _unnumbered(operator)
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 120
    budget.reset()
    budget.take(budget.key_name("someone else"))  # someone else's page view
    on_sandbox.clear_requests()

    named = reads.named(operator, unnumbered)

    assert [item.flow_version_iteration for item in named] == [None] * len(unnumbered)
    assert on_sandbox.requests() == []
    with budget.patience(0.0):  # what was left is still there for a list read
        assert reads.deployment_list(user=operator, query=reads.DeploymentQuery(per_page=5))


@pytest.fixture
def sharing(settings):
    from deployments_ui.patchworks import shared

    settings.CONSOLE_SHARED_READ_SECONDS = 0.2
    shared.reset()
    yield
    shared.reset()


def test_an_older_shared_version_list_fills_a_number_without_waiting(
    sharing, operator, viewer, on_sandbox, settings
):
    """When someone else's answer to the version list is older than a few seconds and the
    budget is spent, the page takes the older answer at once instead of waiting for the budget
    (the shared read's longer patience for a fallback does not apply to a number)."""
    import time

    unnumbered = _unnumbered(operator)  # (Patchworks accepts the operator's key)
    numbered = reads.named(viewer, unnumbered)  # the viewer's page read the version lists
    assert all(item.flow_version_iteration for item in numbered)
    time.sleep(0.3)  # no longer fresh, still a fallback
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 120
    spend_the_whole_budget()
    on_sandbox.clear_requests()
    started = time.monotonic()

    named = reads.named(operator, unnumbered)

    assert time.monotonic() - started < 0.5
    assert on_sandbox.requests() == []
    assert named == numbered


def test_once_the_budget_has_none_to_spare_a_page_stops_asking(operator, on_sandbox, settings):
    """Asking the budget costs a database write where it is counted there (`make run`): a page
    of many flows asks once, not once per flow, when there is nothing to spare."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    unnumbered = _unnumbered(operator)
    assert len({item.flow_id for item in unnumbered}) > 1
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 120
    budget.reset()
    budget.take(budget.key_name("someone else"))  # someone else's page view

    with CaptureQueriesContext(connection) as queries:
        reads.named(operator, unnumbered)

    asked = [q for q in queries if q["sql"].startswith("UPDATE") and "upstreambudget" in q["sql"]]
    assert len(asked) == 1


def spend_the_whole_budget() -> None:
    """Someone else takes everything the budget has, so that nothing is left to spare."""
    budget.reset()
    with budget.patience(0.0):
        while True:
            try:
                budget.take(budget.key_name("someone else"))
            except budget.BudgetExhausted:
                break
