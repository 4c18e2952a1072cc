"""SCIM request bodies as the identity providers send them, copied from their documentation.

Okta: "SCIM 2.0 protocol reference" (developer.okta.com/docs/api/openapi/okta-scim/guides/
scim-20). Entra ID: "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft
Entra ID" (learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-
groups), its "Request and response examples". Ids of people and groups are the console's own,
so `{user}` and `{group}` stand where the examples have the provider's sample ids; Entra's sample
userName is not an email address, which the console refuses (see ENTRA_CREATE_USER_AS_DOCUMENTED).
"""

from __future__ import annotations

import copy
from typing import Any

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# --- Okta ----------------------------------------------------------------------------------

OKTA_CREATE_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}
OKTA_LIST_FILTER = 'userName eq "test.user@okta.local"'
OKTA_REPLACE_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "{user}",
    "userName": "test.user@okta.local",
    "name": {"givenName": "Another", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Another User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "active": True,
    "meta": {"resourceType": "User"},
}
OKTA_DEACTIVATE_USER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "value": {"active": False}}],
}
OKTA_REACTIVATE_USER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "value": {"active": True}}],
}
OKTA_CREATE_GROUP: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Test SCIMv2",
    "members": [],
}
OKTA_RENAME_GROUP: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "value": {"id": "{group}", "displayName": "console-editors"}}],
}
OKTA_ADD_MEMBERS: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [
        {
            "op": "add",
            "path": "members",
            "value": [{"value": "{user}", "display": "test.user@okta.local"}],
        }
    ],
}
OKTA_REMOVE_MEMBER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "remove", "path": 'members[value eq "{user}"]'}],
}

# --- Entra ID ------------------------------------------------------------------------------

ENTRA_CREATE_USER_AS_DOCUMENTED: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}
# The same, with userName mapped from the user principal name (an email address), as the
# console's setup in docs/sign-in.md asks.
ENTRA_CREATE_USER = copy.deepcopy(ENTRA_CREATE_USER_AS_DOCUMENTED)
ENTRA_CREATE_USER["userName"] = "Test_User_ab6490ee@testuser.com"
ENTRA_LIST_FILTER = 'userName eq "Test_User_ab6490ee@testuser.com"'
ENTRA_UPDATE_USER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@microsoft.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    ],
}
ENTRA_DISABLE_USER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "Replace", "path": "active", "value": False}],
}
# Entra ID's older (non-compliant) form, still sent unless the "aadOptscim062020" flag is set.
ENTRA_DISABLE_USER_AS_STRING: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
}
ENTRA_CREATE_GROUP: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {"resourceType": "Group"},
}
ENTRA_GROUP_FILTER = 'displayName eq "displayName"'
ENTRA_RENAME_GROUP: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "Replace", "path": "displayName", "value": "console-operators"}],
}
ENTRA_ADD_MEMBER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": "{user}"}]}],
}
ENTRA_REMOVE_MEMBER: dict[str, Any] = {
    "schemas": [PATCH],
    "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "{user}"}]}
    ],
}


def filled(body: dict[str, Any], **ids: Any) -> dict[str, Any]:
    """The body with `{user}` / `{group}` replaced by the console's ids (as strings)."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for name, given in ids.items():
                value = value.replace("{" + name + "}", str(given))
            return value
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    return fill(copy.deepcopy(body))
