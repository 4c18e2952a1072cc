"""SCIM 2.0 provisioning with the bodies Okta and Entra ID send; the token; SCIM's errors."""

from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from deployments_ui.accounts import scim
from deployments_ui.accounts.sso import role_names
from deployments_ui.models import ApiCredential, AuditEvent, ScimGroup, ScimToken, SsoIdentity
from tests.accounts import scim_bodies as bodies
from tests.factories import make_user

pytestmark = pytest.mark.django_db
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def token(db) -> str:
    out = io.StringIO()
    call_command("scim_token", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def idp(client, token, settings):
    """The identity provider: the test client with the bearer token, speaking SCIM JSON."""
    settings.SSO_GROUP_ROLES = {"console-editors": "Editor", "console-operators": "Operator"}
    settings.SSO_DEFAULT_ROLE = "none"

    def call(method: str, path: str, body: dict | None = None, auth: str = f"Bearer {token}"):
        data = json.dumps(body) if body is not None else ""
        response = getattr(client, method.lower())(
            path, data=data, content_type="application/scim+json", HTTP_AUTHORIZATION=auth
        )
        if response.content:
            assert response["Content-Type"] == "application/scim+json"
        return response

    return call


def assert_error(response, status: int, scim_type: str = "") -> dict:
    assert response.status_code == status
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType", "") == scim_type
    assert body["detail"]
    return body


# --- the token -----------------------------------------------------------------------------


def test_the_token_is_stored_only_as_its_hash(token):
    stored = ScimToken.objects.get()
    assert stored.token_hash == scim.hash_token(token) and token not in stored.token_hash
    assert len(token) >= 40
    assert scim.token_valid(token) and not scim.token_valid(token[:-1] + "x")
    assert not scim.token_valid("")


def test_rotating_stops_the_old_token_at_once(idp, token):
    assert idp("GET", "/scim/v2/Users").status_code == 200
    out = io.StringIO()
    call_command("scim_token", stdout=out)
    new = out.getvalue().strip().splitlines()[-1]
    assert new != token and ScimToken.objects.count() == 1
    assert_error(idp("GET", "/scim/v2/Users"), 401)
    assert idp("GET", "/scim/v2/Users", auth=f"Bearer {new}").status_code == 200
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SCIM_TOKEN)
    assert events.count() == 2
    assert token not in json.dumps(list(events.values()), default=str)


@pytest.mark.parametrize("auth", ["", "Bearer", "Bearer wrong", "Basic abc"])
def test_without_the_token_nothing_is_answered(idp, auth):
    body = assert_error(idp("GET", "/scim/v2/Users", auth=auth), 401)
    assert "token" in body["detail"]
    assert_error(idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER, auth=auth), 401)
    assert not SsoIdentity.objects.exists()


def test_no_token_made_yet_refuses_everyone(client, db):
    response = client.get("/scim/v2/Users", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 401


# --- Okta ----------------------------------------------------------------------------------


def test_okta_creates_finds_replaces_and_deletes_a_user(idp):
    created = idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER)
    assert created.status_code == 201
    person = created.json()
    assert person["userName"] == "test.user@okta.local"
    assert person["active"] is True
    assert person["name"]["givenName"] == "Test"
    assert person["meta"]["location"].endswith(f"/scim/v2/Users/{person['id']}")
    user = User.objects.get(pk=person["id"])
    assert not user.has_usable_password()  # Okta's password is not kept
    assert SsoIdentity.objects.get(user=user).identity == "test.user@okta.local"
    assert AuditEvent.objects.filter(action="provisioned").count() == 1

    assert_error(idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER), 409, "uniqueness")

    listed = idp(
        "GET", f"/scim/v2/Users?filter={quote(bodies.OKTA_LIST_FILTER)}&startIndex=1&count=100"
    )
    assert listed.json()["totalResults"] == 1
    assert listed.json()["Resources"][0]["id"] == person["id"]
    nobody_filter = quote('userName eq "x@okta.local"')
    nobody = idp("GET", f"/scim/v2/Users?filter={nobody_filter}")
    assert nobody.json()["totalResults"] == 0 and nobody.json()["Resources"] == []

    replaced = idp(
        "PUT",
        f"/scim/v2/Users/{person['id']}",
        bodies.filled(bodies.OKTA_REPLACE_USER, user=person["id"]),
    )
    assert replaced.status_code == 200
    assert replaced.json()["name"]["givenName"] == "Another"

    assert idp("DELETE", f"/scim/v2/Users/{person['id']}").status_code == 204
    assert_error(idp("GET", f"/scim/v2/Users/{person['id']}"), 404)
    user.refresh_from_db()
    assert not user.is_active  # kept, switched off, for the audit trail


def test_okta_deactivates_and_reactivates(idp):
    person = idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER).json()
    user = User.objects.get(pk=person["id"])
    ApiCredential.objects.create(user=user, encrypted_key="x", last_four="abcd")
    response = idp("PATCH", f"/scim/v2/Users/{person['id']}", bodies.OKTA_DEACTIVATE_USER)
    assert response.status_code == 200 and response.json()["active"] is False
    assert not ApiCredential.objects.filter(user=user).exists()
    event = AuditEvent.objects.get(action="deactivated")
    assert event.actor_name == "provisioning (SCIM)" and event.sign_in_method == "scim"
    response = idp("PATCH", f"/scim/v2/Users/{person['id']}", bodies.OKTA_REACTIVATE_USER)
    assert response.json()["active"] is True
    assert AuditEvent.objects.filter(action="reactivated").count() == 1


def test_okta_groups_give_roles(idp):
    person = idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER).json()
    user = User.objects.get(pk=person["id"])
    group = idp("POST", "/scim/v2/Groups", bodies.OKTA_CREATE_GROUP)
    assert group.status_code == 201 and group.json()["members"] == []
    gid = group.json()["id"]
    idp(
        "PATCH", f"/scim/v2/Groups/{gid}", bodies.filled(bodies.OKTA_ADD_MEMBERS, user=person["id"])
    )
    assert role_names(user) == []  # "Test SCIMv2" maps to no role
    renamed = idp(
        "PATCH", f"/scim/v2/Groups/{gid}", bodies.filled(bodies.OKTA_RENAME_GROUP, group=gid)
    )
    assert renamed.json()["displayName"] == "console-editors"
    assert renamed.json()["members"] == [{"value": person["id"], "display": "test.user@okta.local"}]
    assert role_names(user) == ["Editor"]
    assert idp("GET", f"/scim/v2/Users/{person['id']}").json()["groups"][0]["display"] == (
        "console-editors"
    )
    # Leaving the only group that gave a role: no role left, so the person is a leaver.
    idp(
        "PATCH",
        f"/scim/v2/Groups/{gid}",
        bodies.filled(bodies.OKTA_REMOVE_MEMBER, user=person["id"]),
    )
    user.refresh_from_db()
    assert role_names(user) == [] and not user.is_active
    assert AuditEvent.objects.filter(action="deactivated").count() == 1


# --- Entra ID ------------------------------------------------------------------------------


def test_entra_ids_documented_user_name_is_refused_in_plain_words(idp):
    response = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER_AS_DOCUMENTED)
    body = assert_error(response, 400, "invalidValue")
    assert "email address" in body["detail"]


def test_entra_creates_updates_and_disables_a_user(idp):
    created = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER)
    assert created.status_code == 201
    uid = created.json()["id"]
    found = idp("GET", f"/scim/v2/Users?filter={quote(bodies.ENTRA_LIST_FILTER)}").json()
    assert [r["id"] for r in found["Resources"]] == [uid]
    assert found["Resources"][0]["userName"] == "test_user_ab6490ee@testuser.com"
    updated = idp("PATCH", f"/scim/v2/Users/{uid}", bodies.ENTRA_UPDATE_USER).json()
    assert updated["emails"][0]["value"] == "updatedEmail@microsoft.com"
    assert updated["name"]["familyName"] == "updatedFamilyName"
    assert updated["active"] is True
    disabled = idp("PATCH", f"/scim/v2/Users/{uid}", bodies.ENTRA_DISABLE_USER).json()
    assert disabled["active"] is False


def test_entra_s_string_false_disables_too(idp):
    uid = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER).json()["id"]
    response = idp("PATCH", f"/scim/v2/Users/{uid}", bodies.ENTRA_DISABLE_USER_AS_STRING)
    assert response.json()["active"] is False
    assert not User.objects.get(pk=uid).is_active


def test_entra_groups(idp):
    uid = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER).json()["id"]
    created = idp("POST", "/scim/v2/Groups", bodies.ENTRA_CREATE_GROUP)
    gid = created.json()["id"]
    assert created.json()["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    found = idp(
        "GET",
        f"/scim/v2/Groups?excludedAttributes=members&filter={quote(bodies.ENTRA_GROUP_FILTER)}",
    )
    assert [g["id"] for g in found.json()["Resources"]] == [gid]
    assert "members" not in found.json()["Resources"][0]
    idp("PATCH", f"/scim/v2/Groups/{gid}", bodies.ENTRA_RENAME_GROUP)
    idp("PATCH", f"/scim/v2/Groups/{gid}", bodies.filled(bodies.ENTRA_ADD_MEMBER, user=uid))
    user = User.objects.get(pk=uid)
    assert role_names(user) == ["Operator"]
    one = idp("GET", f"/scim/v2/Groups/{gid}?excludedAttributes=members").json()
    assert one["displayName"] == "console-operators" and "members" not in one
    idp("PATCH", f"/scim/v2/Groups/{gid}", bodies.filled(bodies.ENTRA_REMOVE_MEMBER, user=uid))
    assert ScimGroup.objects.get(pk=gid).members.count() == 0
    assert idp("DELETE", f"/scim/v2/Groups/{gid}").status_code == 204
    assert_error(idp("GET", f"/scim/v2/Groups/{gid}"), 404)


def test_replacing_a_group_sets_its_members(idp, settings):
    settings.SSO_DEFAULT_ROLE = "Viewer"
    uid = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER).json()["id"]
    gid = idp("POST", "/scim/v2/Groups", {"displayName": "console-editors"}).json()["id"]
    body = {"displayName": "console-editors", "members": [{"value": uid}]}
    assert idp("PUT", f"/scim/v2/Groups/{gid}", body).json()["members"][0]["value"] == uid
    user = User.objects.get(pk=uid)
    assert role_names(user) == ["Editor"]
    idp("PUT", f"/scim/v2/Groups/{gid}", {"displayName": "console-editors", "members": []})
    assert role_names(user) == ["Viewer"]  # the default role: still a member of staff
    assert user.is_active


# --- SCIM's errors -------------------------------------------------------------------------


def test_a_local_account_with_the_same_name_is_not_taken_over(idp):
    make_user("test.user@okta.local", "Viewer")
    assert_error(idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER), 409, "uniqueness")
    assert not SsoIdentity.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "scim_type"),
    [
        ("GET", "/scim/v2/Users?filter=" + quote('emails co "x"'), None, 400, "invalidFilter"),
        ("GET", "/scim/v2/Users?filter=nonsense", None, 400, "invalidFilter"),
        ("GET", "/scim/v2/Users?count=ten", None, 400, "invalidValue"),
        ("GET", "/scim/v2/Users/999999", None, 404, ""),
        ("GET", "/scim/v2/Users/abc", None, 404, ""),
        ("GET", "/scim/v2/Users/99999999999999999999999", None, 404, ""),
        ("DELETE", "/scim/v2/Groups/99999999999999999999999", None, 404, ""),
        ("POST", "/scim/v2/Users", {"userName": ["a@b.c"]}, 400, "invalidValue"),
        ("DELETE", "/scim/v2/Users", None, 405, ""),
        ("POST", "/scim/v2/Users", {"userName": ""}, 400, "invalidValue"),
        ("POST", "/scim/v2/Groups", {"displayName": ""}, 400, "invalidValue"),
        ("PATCH", "/scim/v2/Groups/999", {"Operations": []}, 404, ""),
    ],
)
def test_bad_requests_get_scim_errors(idp, method, path, body, status, scim_type):
    assert_error(idp(method, path, body), status, scim_type)


def test_bodies_that_are_not_scim(idp, client, token):
    uid = idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER).json()["id"]
    response = client.post(
        "/scim/v2/Users",
        data="{not json",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert_error(response, 400, "invalidSyntax")
    assert_error(idp("PATCH", f"/scim/v2/Users/{uid}", {"Operations": []}), 400, "invalidSyntax")
    bad_op = {"Operations": [{"op": "move", "path": "active", "value": False}]}
    assert_error(idp("PATCH", f"/scim/v2/Users/{uid}", bad_op), 400, "invalidSyntax")
    bad_active = {"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}
    assert_error(idp("PATCH", f"/scim/v2/Users/{uid}", bad_active), 400, "invalidValue")
    assert User.objects.get(pk=uid).is_active


def test_odd_shapes_are_answered_not_crashed_on(idp, client, token):
    group = idp("POST", "/scim/v2/Groups", {"displayName": "x", "members": "nonsense"})
    assert group.status_code == 201 and group.json()["members"] == []
    gid = group.json()["id"]
    odd = {"Operations": [{"op": "add", "path": "members", "value": [{"value": "9" * 30}, 7]}]}
    assert idp("PATCH", f"/scim/v2/Groups/{gid}", odd).json()["members"] == []
    response = client.post(
        "/scim/v2/Users",
        data="[1, 2]",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert_error(response, 400, "invalidSyntax")


def test_two_people_cannot_share_a_user_name(idp):
    first = idp("POST", "/scim/v2/Users", bodies.OKTA_CREATE_USER).json()
    idp("POST", "/scim/v2/Users", bodies.ENTRA_CREATE_USER)
    rename = {
        "Operations": [
            {"op": "replace", "path": "userName", "value": "Test_User_ab6490ee@testuser.com"}
        ]
    }
    assert_error(idp("PATCH", f"/scim/v2/Users/{first['id']}", rename), 409, "uniqueness")


def test_the_service_provider_config(idp):
    config = idp("GET", "/scim/v2/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["filter"]["supported"] is True
