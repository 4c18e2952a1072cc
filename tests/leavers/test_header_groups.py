"""The trusted header's groups dropping every console role is leaving: the cascade runs."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User

from deployments_ui.accounts.credentials import store_api_key
from deployments_ui.models import ApiCredential, AuditEvent
from tests.factories import make_user
from tests.leavers.things import assert_all_stopped, leave_things_running

PROXY = "10.0.0.5"

pytestmark = pytest.mark.django_db


@pytest.fixture
def header_sso(settings):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.SSO_GROUPS_HEADER = "X-Forwarded-Groups"
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    settings.SSO_GROUP_ROLES = {"ops": "Operator"}
    settings.SSO_DEFAULT_ROLE = "none"
    settings.SSO_REQUIRE_EMAIL = True
    return settings


def via(client, groups: str):
    return client.get(
        "/account/api-key/",
        REMOTE_ADDR=PROXY,
        headers={"X-Forwarded-Email": "ann@example.com", "X-Forwarded-Groups": groups},
    )


def test_losing_every_role_inside_a_session_deactivates(client, header_sso):
    assert via(client, "ops").status_code == 200
    ann = User.objects.get(pk=client.session[SESSION_KEY])
    store_api_key(ann, "sandbox-key-operator")
    things = leave_things_running(ann, make_user("cole", "Operator"))

    response = via(client, "finance")

    assert SESSION_KEY not in client.session
    ann.refresh_from_db()
    assert not ann.is_active
    assert not ApiCredential.objects.filter(user=ann).exists()
    assert_all_stopped(things, "single sign-on")
    event = AuditEvent.objects.get(action="deactivated")
    assert event.after == {"account": "ann@example.com", "via": "the identity provider's groups"}
    # Switched off: the next request through the proxy does not sign Ann in again.
    assert response.status_code == 302
    assert via(client, "ops").status_code == 302
    assert SESSION_KEY not in client.session
