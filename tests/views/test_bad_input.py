"""Input an attacker chooses never reaches a 500 or a 502, nor a response header.

Ids are checked by the URL patterns (a plain 404 before any view or Patchworks call), dates by
the audit filters (left out, and said so). `responses` has no routes: any call to Patchworks
would fail the test with a connection error (a 502 page).
"""

from __future__ import annotations

import logging

import pytest
import responses
from django.test import Client

BAD_IDS = [
    "%0d%0aX:1",  # a header injection attempt
    "%2E%2E",  # ".." once decoded
    "a%2Fb",
    "caf%C3%A9",  # non-ASCII
    "x" * 70,  # longer than any Patchworks id
    "%20",
]


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


@pytest.fixture
def no_patchworks(settings):
    settings.PATCHWORKS_BASE_URL = "https://patchworks.test"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked
    assert not mocked.calls


def assert_plain_404(response) -> None:
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()
    assert "HX-Retarget" not in response.headers


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "template",
    [
        "/flow-versions/{}/deployments/",
        "/flow-versions/{}/deployments/new/",
        "/flow-versions/11/deployments/{}/",
        "/flow-versions/{}/deployments/101/edit/",
        "/flow-versions/11/deployments/{}/delete/",
    ],
)
def test_a_malformed_id_in_a_page_address_is_a_plain_404(
    operator_client, no_patchworks, caplog, bad, template
):
    with caplog.at_level(logging.ERROR):
        response = operator_client.get(template.format(bad))
    assert_plain_404(response)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("action", ["enable", "disable"])
def test_an_htmx_toggle_with_a_malformed_id_never_echoes_it_into_a_header(
    operator_client, no_patchworks, bad, action
):
    response = operator_client.post(
        f"/flow-versions/11/deployments/{bad}/{action}/",
        {"reason": "test"},
        headers={"HX-Request": "true"},
    )
    assert_plain_404(response)
    for value in response.headers.values():
        assert "X:1" not in value and "\r" not in value and "\n" not in value


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a/b", "../x", "x" * 70, "caf\u00e9"])
def test_the_version_picker_refuses_a_malformed_flow_version(operator_client, no_patchworks, bad):
    response = operator_client.get("/pickers/flow-versions/", {"flow_version": bad})
    assert_plain_404(response)


@pytest.mark.django_db
def test_the_version_picker_still_goes_on_to_a_good_flow_version(operator_client):
    response = operator_client.get("/pickers/flow-versions/", {"flow_version": "11"})
    assert response.status_code == 302
    assert response["Location"] == "/flow-versions/11/deployments/new/"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv"])
@pytest.mark.parametrize(
    "query",
    ["date_to=9999-12-31", "date_from=9999-12-31", "date_from=0001-01-01", "date_to=0001-01-01"],
)
def test_extreme_dates_are_left_out_not_a_crash(operator_client, path, query):
    response = operator_client.get(f"{path}?{query}")
    assert response.status_code == 200
    if path == "/audit/":
        assert "Some filters were not understood" in response.content.decode()
    else:
        b"".join(response.streaming_content)
