"""The list of deployments sends its read before the access check, which then runs while the read
travels; its answer is shown only once the check passes."""

from __future__ import annotations

import pytest

from deployments_ui.views.deployments import ListStarted
from tests.deployments import find_deployment, seen_by_the_access_check
from tests.factories import make_user

pytestmark = pytest.mark.django_db

LIST_PATH = "/api/v1/flow-version-deployments"


def list_reads(sandbox) -> list[dict]:
    return [r for r in sandbox.requests() if r["method"] == "GET" and r["path"] == LIST_PATH]


def test_the_list_read_is_on_its_way_before_the_access_check(
    client, operator, on_sandbox, monkeypatch
):
    seen = seen_by_the_access_check(monkeypatch, "list_started")
    client.force_login(operator)
    on_sandbox.clear_requests()

    response = client.get("/deployments/", {"q": "Shopify"})

    assert response.status_code == 200
    assert len(seen) == 1 and isinstance(seen[0], ListStarted)
    assert seen[0].reading is not None
    reads = list_reads(on_sandbox)
    assert len(reads) == 1  # the read ahead is the one read, with the page's filter
    assert "Shopify" in str(reads[0]["query"])
    assert response.context["form"].cleaned_data["q"] == "Shopify"


def test_someone_without_a_role_is_refused_and_shown_nothing_read(client, on_sandbox, monkeypatch):
    seen = seen_by_the_access_check(monkeypatch, "list_started")
    nobody = make_user("nina", None, full_name="Nina Norole", api_key="sandbox-key-viewer")
    client.force_login(nobody)
    item = find_deployment(on_sandbox, enabled=True)

    response = client.get("/deployments/")

    assert response.status_code == 403
    assert isinstance(seen[0], ListStarted)  # read ahead, then refused
    page = response.content.decode()
    assert item["name"] not in page and "<tr" not in page


def test_someone_without_a_key_is_sent_to_save_one(client, keyless_operator, on_sandbox):
    client.force_login(keyless_operator)
    on_sandbox.clear_requests()

    response = client.get("/deployments/")

    assert response.status_code == 302
    assert list_reads(on_sandbox) == []
