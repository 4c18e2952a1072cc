"""My API key: checked before saving, stored encrypted, never shown, logged or put in a session."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import responses
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from deployments_ui.accounts import crypto
from deployments_ui.accounts.credentials import (
    ApiKeyRejected,
    MissingApiKey,
    api_key_for,
    save_api_key,
    store_api_key,
)
from deployments_ui.management.commands.demo_setup import DEMO_USERS
from deployments_ui.models import ApiCredential
from deployments_ui.patchworks import PatchworksClient
from tests.accounts.test_access import APP_URLS

pytestmark = pytest.mark.django_db

PAGE = "/account/api-key/"
KEY = "pw-secret-Zq8vR2mT9xLk4NcW7b"
EMPTY_PAGE = {
    "data": [],
    "links": {"first": None, "last": None, "prev": None, "next": None},
    "meta": {
        "current_page": 1,
        "from": None,
        "last_page": 1,
        "path": "",
        "per_page": 1,
        "to": None,
        "total": 0,
    },
}


def key_saved(user) -> bool:
    return ApiCredential.objects.filter(user=user).exists()


@pytest.fixture
def patchworks(settings):
    """Patchworks mocked at the HTTP boundary; every call is recorded with its headers."""
    settings.PATCHWORKS_BASE_URL = "http://patchworks.test"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def accepts(mocked, key: str = KEY):
    def answer(request):
        if request.headers.get("Authorization") == key:
            return 200, {}, json.dumps(EMPTY_PAGE)
        return 401, {}, '{"message": "Unauthenticated."}'

    mocked.add_callback(
        responses.GET,
        re.compile(r"http://patchworks\.test/api/v1/.*"),
        callback=answer,
        content_type="application/json",
    )


def save(client, key: str = KEY, **extra):
    return client.post(PAGE, {"api_key": key, "save": "1", **extra})


# The page


def test_it_explains_why_a_key_is_needed(client, no_role_user):
    client.force_login(no_role_user)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert b"You have not saved a key yet" in response.content
    assert b"works in Patchworks with your own Patchworks API key" in response.content
    assert b'type="password"' in response.content
    assert b'autocomplete="off"' in response.content


def test_it_needs_a_signed_in_person(client):
    assert client.get(PAGE)["Location"] == f"/accounts/login/?next={PAGE}"


def test_it_checks_the_key_with_patchworks_then_saves_it(client, no_role_user, patchworks):
    accepts(patchworks)
    client.force_login(no_role_user)
    response = save(client)
    assert response.status_code == 302
    assert response["Location"] == PAGE
    (call,) = patchworks.calls
    assert call.request.headers["Authorization"] == KEY
    assert "per_page=1" in call.request.url
    credential = ApiCredential.objects.get(user=no_role_user)
    assert credential.last_four == KEY[-4:]
    assert api_key_for(no_role_user) == KEY

    page = client.get(PAGE)
    assert "A key ending in <strong>" in page.content.decode()
    assert KEY[-4:] in page.content.decode()
    assert KEY not in page.content.decode()
    assert b"Patchworks accepted your key" in page.content


def test_a_key_patchworks_refuses_is_not_saved(client, no_role_user, patchworks):
    accepts(patchworks, key="some-other-key")
    client.force_login(no_role_user)
    response = save(client)
    assert response.status_code == 400
    assert b"Patchworks did not accept this API key" in response.content
    assert b'aria-describedby="id_api_key_helptext id_api_key_error"' in response.content
    assert KEY not in response.content.decode()
    assert not ApiCredential.objects.exists()


def test_when_patchworks_does_not_answer_nothing_is_saved(client, no_role_user, patchworks):
    patchworks.add(responses.GET, re.compile(r"http://patchworks\.test/.*"), status=503)
    client.force_login(no_role_user)
    response = save(client)
    assert response.status_code == 502
    assert b"Your key was not saved." in response.content
    assert KEY not in response.content.decode()
    assert not ApiCredential.objects.exists()


@pytest.mark.parametrize("bad", ["", "   ", "two words", "tab\there", "ключ", "x" * 600])
def test_a_malformed_key_is_refused_without_asking_patchworks(client, viewer, patchworks, bad):
    client.force_login(viewer)
    response = save(client, bad)
    assert response.status_code == 400
    assert not patchworks.calls
    assert api_key_for(viewer) == "sandbox-key-viewer"


def test_replacing_a_key(client, viewer, patchworks):
    accepts(patchworks)
    client.force_login(viewer)
    save(client)
    assert api_key_for(viewer) == KEY
    assert ApiCredential.objects.filter(user=viewer).count() == 1


def test_removing_a_key_asks_first(client, viewer):
    client.force_login(viewer)
    confirm = client.post(PAGE, {"remove": "1"})
    assert confirm.status_code == 200
    assert b"Remove your key?" in confirm.content
    assert key_saved(viewer)
    done = client.post(PAGE, {"confirm_remove": "1"})
    assert done["Location"] == PAGE
    assert not key_saved(viewer)
    assert b"You have not saved a key yet" in client.get(PAGE).content


def test_it_goes_back_where_it_was_sent_from(client, no_role_user, patchworks):
    accepts(patchworks)
    client.force_login(no_role_user)
    assert save(client, next="/deployments/?page=3")["Location"] == "/deployments/?page=3"
    assert save(client, next="//evil.com")["Location"] == PAGE


def test_a_person_without_a_key_is_sent_to_this_page(client, keyless_operator):
    client.force_login(keyless_operator)
    response = client.get("/deployments/")
    assert response["Location"] == PAGE
    assert b"the console needs your Patchworks API key" in client.get(PAGE).content


def test_the_posted_key_is_hidden_from_error_reports(client, no_role_user, patchworks):
    accepts(patchworks)
    client.force_login(no_role_user)
    response = save(client)
    assert tuple(response.wsgi_request.sensitive_post_parameters) == ("api_key",)


# Where the key must never be


def test_the_database_holds_ciphertext_only(client, no_role_user, patchworks):
    accepts(patchworks)
    client.force_login(no_role_user)
    save(client)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM deployments_ui_apicredential")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert all(KEY not in str(value) for value in rows[0])
    stored = ApiCredential.objects.get().encrypted_key
    assert stored.startswith("gAAAA")  # a Fernet token
    assert crypto.decrypt(stored) == KEY


def test_the_key_is_never_in_the_session(client, no_role_user, patchworks):
    accepts(patchworks)
    client.force_login(no_role_user)
    save(client)
    client.get("/deployments/")
    for session in Session.objects.all():
        assert KEY not in str(session.get_decoded())
        assert KEY not in session.session_data


def test_the_key_is_absent_from_every_page(client, settings, patchworks, caplog):
    accepts(patchworks)
    user = User.objects.create_user("kay", password="x", is_staff=True, is_superuser=True)
    store_api_key(user, KEY)
    client.force_login(user)
    client.raise_request_exception = False
    pages = [*APP_URLS.values(), PAGE, "/admin/", "/admin/deployments_ui/apicredential/"]
    pages.append(f"/admin/deployments_ui/apicredential/{ApiCredential.objects.get().pk}/change/")
    with caplog.at_level(logging.DEBUG):
        for url in pages:
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                if url.endswith("logout/"):
                    client.force_login(user)
                body = b"".join(response) if response.streaming else response.content
                assert KEY.encode() not in body, f"{method} {url}"
                assert KEY[:-4].encode() not in body, f"{method} {url}"
    assert KEY not in caplog.text
    # The pages that call Patchworks did so with the key: it was there to leak.
    assert any(call.request.headers["Authorization"] == KEY for call in patchworks.calls)


def test_the_key_is_absent_from_log_output_at_debug(client, no_role_user, patchworks, caplog):
    accepts(patchworks)
    client.force_login(no_role_user)
    with caplog.at_level(logging.DEBUG):
        save(client, "wrong-key-Pq7")  # refused
        save(client)  # accepted
        client.get(PAGE)
        PatchworksClient(api_key_for(no_role_user)).list_deployments(per_page=1)
    assert len(patchworks.calls) == 3
    assert "wrong-key-Pq7" not in caplog.text
    assert KEY not in caplog.text
    assert "saved a Patchworks API key" in caplog.text


def test_rejection_messages_never_contain_the_key(no_role_user, patchworks):
    accepts(patchworks, key="another")
    with pytest.raises(ApiKeyRejected) as caught:
        save_api_key(no_role_user, KEY)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# Each person's own key


def test_each_persons_calls_carry_their_own_key(operator, editor, patchworks):
    patchworks.get(re.compile(r"http://patchworks\.test/.*"), json=EMPTY_PAGE)
    PatchworksClient(api_key_for(operator)).list_deployments(per_page=1)
    PatchworksClient(api_key_for(editor)).list_deployments(per_page=1)
    sent = [call.request.headers["Authorization"] for call in patchworks.calls]
    assert sent == ["sandbox-key-operator", "sandbox-key-editor"]


def test_a_page_view_uses_the_signed_in_persons_key(client, operator, editor, patchworks):
    patchworks.get(re.compile(r"http://patchworks\.test/.*"), json=EMPTY_PAGE)
    client.force_login(operator)
    client.get("/deployments/")
    client.force_login(editor)
    client.get("/deployments/")
    keys = {call.request.headers["Authorization"] for call in patchworks.calls}
    assert keys == {"sandbox-key-operator", "sandbox-key-editor"}


def test_a_person_without_a_key_has_none_to_use(no_role_user):
    assert not key_saved(no_role_user)
    with pytest.raises(MissingApiKey):
        api_key_for(no_role_user)


# Against the live sandbox


def test_a_sandbox_key_is_verified_and_saved(client, no_role_user, on_sandbox):
    client.force_login(no_role_user)
    assert save(client, "sandbox-key-operator").status_code == 302
    assert api_key_for(no_role_user) == "sandbox-key-operator"
    (logged,) = on_sandbox.requests()
    assert logged["user"] == "Oscar Operator"
    assert logged["status"] == 200


def test_a_key_the_sandbox_does_not_know_is_refused(client, no_role_user, on_sandbox):
    client.force_login(no_role_user)
    response = save(client, "sandbox-key-nobody")
    assert response.status_code == 400
    assert b"Patchworks did not accept this API key" in response.content
    assert not key_saved(no_role_user)


# Encryption keys and their rotation


def test_rotation_re_encrypts_under_the_first_key(viewer, operator, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CONSOLE_ENCRYPTION_KEYS = [old]
    store_api_key(viewer, "key-for-vera")
    store_api_key(operator, "key-for-oscar")
    settings.CONSOLE_ENCRYPTION_KEYS = [new, old]
    assert api_key_for(viewer) == "key-for-vera"  # all keys decrypt
    out = io.StringIO()
    call_command("rotate_api_keys", stdout=out)
    assert "Re-encrypted 2 API keys." in out.getvalue()
    settings.CONSOLE_ENCRYPTION_KEYS = [new]
    assert api_key_for(viewer) == "key-for-vera"
    assert api_key_for(operator) == "key-for-oscar"
    settings.CONSOLE_ENCRYPTION_KEYS = [old]
    with pytest.raises(MissingApiKey, match="can no longer be read"):
        api_key_for(viewer)


def test_rotation_changes_nothing_if_a_key_cannot_be_read(viewer, operator, settings):
    lost, kept = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CONSOLE_ENCRYPTION_KEYS = [lost]
    store_api_key(viewer, "key-for-vera")
    settings.CONSOLE_ENCRYPTION_KEYS = [kept]
    store_api_key(operator, "key-for-oscar")
    before = dict(ApiCredential.objects.values_list("user_id", "encrypted_key"))
    with pytest.raises(
        CommandError, match=rf"encryption keys: user {viewer.pk}\. Nothing was changed"
    ):
        call_command("rotate_api_keys")
    assert dict(ApiCredential.objects.values_list("user_id", "encrypted_key")) == before


def test_missing_encryption_keys_stop_a_real_deployment(settings):
    settings.SECRET_KEY = "a-real-production-secret-key-of-some-length-0123456789"
    settings.CONSOLE_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="CONSOLE_ENCRYPTION_KEYS is not set"):
        crypto.encrypt("x")
    (error,) = crypto.check_encryption_keys()
    assert error.id == "deployments_ui.E001"


def test_local_development_gets_a_derived_key(settings):
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    settings.CONSOLE_ENCRYPTION_KEYS = []
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
    assert crypto.check_encryption_keys() == []


def test_a_malformed_encryption_key_is_named_by_position_only(settings):
    settings.CONSOLE_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key"]
    (error,) = crypto.check_encryption_keys()
    assert error.id == "deployments_ui.E002"
    assert "entry number 2" in error.msg
    assert "not-a-fernet-key" not in error.msg


# Demo sign-ins


def test_demo_setup_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only with DJANGO_DEBUG=true"):
        call_command("demo_setup")
    assert not User.objects.exists()


def test_demo_setup_creates_one_user_per_role_with_sandbox_keys(settings):
    settings.DEBUG = True
    call_command("demo_setup", stdout=io.StringIO())
    call_command("demo_setup", stdout=io.StringIO())  # again: same users
    assert User.objects.count() == len(DEMO_USERS)
    for username, role, key in [
        ("viewer", "Viewer", "sandbox-key-viewer"),
        ("operator", "Operator", "sandbox-key-operator"),
        ("editor", "Editor", "sandbox-key-editor"),
        ("admin", "Admin", "sandbox-key-admin"),
        ("auditor", "Auditor", "sandbox-key-readonly"),
        ("tester", "Viewer", "sandbox-key-tester"),
    ]:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.check_password("demo-password")
        assert api_key_for(user) == key
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert User.objects.get(username="viewer").get_full_name() == "Vera Viewer"
    assert not User.objects.get(username="editor").is_staff


def test_demo_setup_can_be_forced(settings):
    settings.DEBUG = False
    call_command("demo_setup", "--force-demo", stdout=io.StringIO())
    assert User.objects.count() == len(DEMO_USERS)


# Saving and removing a key are audit events (never with the key itself)


def test_saving_and_removing_a_key_are_audit_events(client, viewer, patchworks):
    from deployments_ui.audit import describe
    from deployments_ui.models import AuditEvent

    accepts(patchworks)
    client.force_login(viewer)
    save(client)
    client.post(PAGE, {"confirm_remove": "1"})

    saved, removed = AuditEvent.objects.order_by("id")
    assert (saved.action, removed.action) == ("api_key_saved", "api_key_removed")
    assert saved.actor_username == "vera" and saved.ip_address == "127.0.0.1"
    assert describe(saved) == f"Vera Viewer saved their Patchworks API key (ending {KEY[-4:]})"
    assert describe(removed) == "Vera Viewer removed their Patchworks API key"
    assert KEY not in json.dumps([saved.after, removed.after, saved.message])


def test_a_refused_key_is_not_an_audit_event(client, no_role_user, patchworks):
    from deployments_ui.models import AuditEvent

    accepts(patchworks, key="another-key")
    client.force_login(no_role_user)
    save(client)
    assert not AuditEvent.objects.exists()
