"""The Service key page: admins set the key background jobs use; checked, encrypted, never shown."""

from __future__ import annotations

import io
import logging

import pytest
import responses
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from deployments_ui.accounts import credentials
from deployments_ui.core import leases
from deployments_ui.drift import sync as drift
from deployments_ui.models import ServiceCredential
from tests.accounts.test_api_key import KEY, accepts

pytestmark = pytest.mark.django_db

PAGE = "/settings/service-key/"
ENVIRONMENT_KEY = "env-service-key-0042"


@pytest.fixture
def patchworks(settings):
    """Patchworks mocked at the HTTP boundary, as on the My API key page's tests."""
    settings.PATCHWORKS_BASE_URL = "http://patchworks.test"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def as_admin(client, admin_user, settings):
    settings.CONSOLE_SERVICE_API_KEY = ""
    client.force_login(admin_user)
    return client


def save(client, key: str = KEY):
    return client.post(PAGE, {"api_key": key, "save": "1"})


def test_without_a_key_it_says_drift_detection_cannot_run(as_admin):
    page = as_admin.get(PAGE).content.decode()
    assert (
        "No service key is set, so the check for changes made outside the console cannot run."
    ) in page
    assert "It has not completed a check yet." in page
    assert 'href="/settings/service-key/" aria-current="page">Service key</a>' in page


def test_a_key_from_the_environment_is_named_by_its_last_four_only(as_admin, settings):
    settings.CONSOLE_SERVICE_API_KEY = ENVIRONMENT_KEY
    page = as_admin.get(PAGE).content.decode()
    assert "uses the key set in the server's configuration, which ends in" in page
    assert "<strong>0042</strong>" in page
    assert ENVIRONMENT_KEY not in page


def test_an_admin_saves_a_key_patchworks_accepts(as_admin, admin_user, patchworks, caplog):
    caplog.set_level(logging.DEBUG)
    accepts(patchworks)
    response = save(as_admin)
    assert response.status_code == 302 and response["Location"] == PAGE
    (call,) = patchworks.calls
    assert call.request.headers["Authorization"] == KEY

    stored = ServiceCredential.objects.get()
    assert KEY not in stored.encrypted_key and stored.saved_by == admin_user
    assert credentials.service_api_key() == KEY
    page = as_admin.get(PAGE).content.decode()
    assert "Patchworks accepted the service key, and it is saved. It ends in" in page
    assert f"{KEY[-4:]}</strong> was saved on" in page
    assert f"by {admin_user.get_full_name() or admin_user.get_username()}." in page
    assert KEY not in page
    assert KEY not in caplog.text


def test_a_key_patchworks_refuses_is_not_saved(as_admin, patchworks):
    accepts(patchworks, key="another-key")
    response = save(as_admin)
    assert response.status_code == 400
    assert "Patchworks did not accept this API key" in response.content.decode()
    assert KEY not in response.content.decode()
    assert not ServiceCredential.objects.exists()


def test_when_patchworks_does_not_answer_nothing_is_saved(as_admin, patchworks):
    patchworks.get("http://patchworks.test/api/v1/flow-version-deployments", status=503)
    response = save(as_admin)
    assert response.status_code == 502
    assert "The service key was not saved." in response.content.decode()
    assert not ServiceCredential.objects.exists()


def test_removing_asks_first_then_falls_back_to_the_environment(as_admin, admin_user, settings):
    settings.CONSOLE_SERVICE_API_KEY = ENVIRONMENT_KEY
    ServiceCredential.objects.create(
        pk=1, encrypted_key=credentials.crypto.encrypt(KEY), last_four=KEY[-4:]
    )
    assert credentials.service_api_key() == KEY

    confirm = as_admin.post(PAGE, {"remove": "1"}).content.decode()
    assert "Remove the service key?" in confirm
    assert "go back to the key set in the server's configuration (ending in 0042)" in confirm
    assert ServiceCredential.objects.exists()

    done = as_admin.post(PAGE, {"confirm_remove": "1"}, follow=True).content.decode()
    assert "The service key is removed from the console." in done
    assert not ServiceCredential.objects.exists()
    assert credentials.service_api_key() == ENVIRONMENT_KEY


@pytest.mark.parametrize("role", ["viewer", "operator", "editor"])
def test_only_admins_may_open_it(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"api_key": KEY, "save": "1"}).status_code == 403
    assert b"Service key</a>" not in client.get("/account/api-key/").content


def test_drift_detection_uses_the_saved_key_before_the_environments(patchworks, settings):
    settings.CONSOLE_SERVICE_API_KEY = ENVIRONMENT_KEY
    ServiceCredential.objects.create(
        pk=1, encrypted_key=credentials.crypto.encrypt(KEY), last_four=KEY[-4:]
    )
    accepts(patchworks)
    drift.sync_deployments(min_interval=0)
    assert {call.request.headers["Authorization"] for call in patchworks.calls} == {KEY}


def test_the_page_shows_when_drift_detection_last_finished(as_admin, patchworks, settings):
    settings.CONSOLE_SERVICE_API_KEY = KEY
    accepts(patchworks)
    drift.sync_deployments(min_interval=0)
    assert leases.last_completed(drift.LEASE_NAME) is not None
    assert "Last completed a check <time" in as_admin.get(PAGE).content.decode()


def test_rotation_re_encrypts_the_service_key_too(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CONSOLE_ENCRYPTION_KEYS = [old]
    ServiceCredential.objects.create(pk=1, encrypted_key=credentials.crypto.encrypt(KEY))
    settings.CONSOLE_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_api_keys", stdout=out)
    assert "Re-encrypted 1 API key." in out.getvalue()
    settings.CONSOLE_ENCRYPTION_KEYS = [new]
    assert credentials.service_api_key() == KEY


def test_rotation_names_an_unreadable_service_key(settings):
    settings.CONSOLE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ServiceCredential.objects.create(pk=1, encrypted_key=credentials.crypto.encrypt(KEY))
    settings.CONSOLE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(
        CommandError, match=r"encryption keys: the service key\. Nothing was changed"
    ):
        call_command("rotate_api_keys")


def test_saving_and_removing_the_service_key_are_audit_events(as_admin, patchworks):
    from deployments_ui.audit import describe
    from deployments_ui.models import AuditEvent

    accepts(patchworks)
    save(as_admin)
    as_admin.post(PAGE, {"confirm_remove": "1"})

    saved, removed = AuditEvent.objects.order_by("id")
    assert describe(saved) == f"Adam Admin saved the service key (ending {KEY[-4:]})"
    assert describe(removed) == "Adam Admin removed the service key"
