"""Headers the console believes only from its trusted proxies, and no caching of signed-in pages."""

from __future__ import annotations

import ipaddress

import pytest

from deployments_ui.models import AuditEvent

PROXY = "10.0.0.5"
OUTSIDER = "203.0.113.9"
CHOSEN_ID = "proxy-chosen-id-0001"


@pytest.fixture
def proxies(settings):
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


# X-Request-ID


@pytest.mark.django_db
def test_a_request_id_is_taken_from_a_trusted_proxy(client, proxies):
    response = client.get("/healthz", REMOTE_ADDR=PROXY, headers={"X-Request-ID": CHOSEN_ID})
    assert response["X-Request-ID"] == CHOSEN_ID


@pytest.mark.django_db
def test_a_request_id_from_anyone_else_is_replaced(client, proxies):
    response = client.get("/healthz", REMOTE_ADDR=OUTSIDER, headers={"X-Request-ID": CHOSEN_ID})
    assert response["X-Request-ID"] != CHOSEN_ID
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["short", "has spaces in it", "x" * 65, "a\u00e9bcdefghij"])
def test_an_odd_request_id_is_replaced_even_from_the_proxy(client, proxies, value):
    response = client.get("/healthz", REMOTE_ADDR=PROXY, headers={"X-Request-ID": value})
    assert response["X-Request-ID"] != value


@pytest.mark.django_db
def test_an_outsiders_request_id_does_not_reach_the_audit_trail(client, proxies, operator):
    client.force_login(operator)
    client.post(
        "/account/api-key/",
        {"confirm_remove": "1"},
        REMOTE_ADDR=OUTSIDER,
        headers={"X-Request-ID": CHOSEN_ID},
    )
    event = AuditEvent.objects.get(action="api_key_removed")
    assert event.request_id and event.request_id != CHOSEN_ID


# X-Forwarded-Proto


@pytest.mark.django_db
def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(client, proxies):
    proxies.SECURE_SSL_REDIRECT = True
    # From the proxy, "https" is believed: no redirect.
    trusted = client.get(
        "/accounts/login/", REMOTE_ADDR=PROXY, headers={"X-Forwarded-Proto": "https"}
    )
    assert trusted.status_code == 200
    # From a client, the same header is dropped: plain http is sent to https.
    spoofed = client.get(
        "/accounts/login/", REMOTE_ADDR=OUTSIDER, headers={"X-Forwarded-Proto": "https"}
    )
    assert spoofed.status_code == 301
    assert spoofed["Location"].startswith("https://")


@pytest.mark.django_db
def test_a_spoofed_https_does_not_make_cookies_or_csrf_think_it_is_secure(client, proxies):
    response = client.get(
        "/accounts/login/", REMOTE_ADDR=OUTSIDER, headers={"X-Forwarded-Proto": "https"}
    )
    assert response.wsgi_request.is_secure() is False


# Cache-Control


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/audit/", "/account/api-key/", "/audit/export.csv"])
def test_signed_in_responses_are_not_stored(client, viewer, path):
    client.force_login(viewer)
    response = client.get(path)
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives


@pytest.mark.django_db
def test_signed_in_redirects_and_refusals_are_not_stored_either(client, viewer):
    client.force_login(viewer)
    refused = client.get("/settings/service-key/")
    assert refused.status_code == 403
    assert "no-store" in refused["Cache-Control"]
    signed_out = client.post("/accounts/logout/")
    assert "no-store" in signed_out["Cache-Control"]
