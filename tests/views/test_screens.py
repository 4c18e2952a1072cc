"""What every screen keeps: a row's controls after an in-row change, the dialog's fields, the
history when Patchworks cannot answer, and help text the fields point at."""

from __future__ import annotations

import re

import pytest

from tests.deployments import deployment_url, find_deployment, toast_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


@pytest.mark.parametrize("bulk", ["1", ""])
def test_a_row_swapped_in_keeps_its_bulk_checkbox(signed_in, on_sandbox, bulk):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"fragment": "row", "bulk": bulk, "reason": "r"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert ('form="bulk-form"' in html) is bool(bulk)
    assert ('name="bulk" value="1"' in html) is bool(bulk)
    assert f'id="choose-{item["id"]}"' in html or not bulk


def test_the_detail_page_shows_the_trail_when_patchworks_cannot_answer(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    url = deployment_url(item, "disable/")
    assert signed_in.post(url, {"reason": "quiet night"}).status_code == 302
    detail = deployment_url(item, "")

    on_sandbox.set_faults(error_status=503)
    response = signed_in.get(detail)

    html = response.content.decode()
    assert response.status_code in (502, 503)
    assert "Nothing recorded yet" not in html
    assert "quiet night" in html
    assert f'href="{detail}"' not in html


def test_every_described_by_id_exists(client, admin_user, on_sandbox):
    client.force_login(admin_user)
    schedule = deployment_url(find_deployment(on_sandbox, enabled=True), "schedule/")
    for url in ("/settings/notifications/", "/settings/webhooks/new/", schedule):
        html = client.get(url).content.decode()
        ids = set(re.findall(r'\bid="([^"]+)"', html))
        for described in re.findall(r'aria-describedby="([^"]+)"', html):
            for one in described.split():
                assert one in ids, f"{url}: aria-describedby points at a missing {one}"


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_failed_change_says_whether_anything_changed(signed_in, on_sandbox, status):
    item = find_deployment(on_sandbox, enabled=True, live=False)
    on_sandbox.set_faults(error_status=status, methods=["POST"])
    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"fragment": "row", "reason": "r", "confirmed": "1"},
        HTTP_HX_REQUEST="true",
    )
    toast = toast_of(response)
    assert toast["level"] == "error"
    assert "Nothing was changed." in toast["message"] or "whether" in toast["message"]


def test_every_failure_sentence_says_whether_anything_changed():
    from deployments_ui.deployments.writes import failure_message
    from deployments_ui.patchworks import PatchworksError

    assert failure_message(PatchworksError("Patchworks is busy.")).endswith("Nothing was changed.")
    unknown = PatchworksError("Patchworks did not answer.", outcome_unknown=True)
    assert "did not say whether it was changed" in failure_message(unknown)
    said = "Patchworks could not be reached. Nothing was changed. Try again."
    assert failure_message(PatchworksError(said)) == said
