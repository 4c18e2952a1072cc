"""SCIM 2.0 provisioning (RFC 7643/7644): the identity provider creates, changes and removes
people and their groups, and a leaver is stopped at once.

Users are the accounts single sign-on knows (`SsoIdentity`): `userName` is the identity,
normalised as the trusted header's and OpenID Connect's are, so one person is one account
whichever way they come in. Setting `active` to false, or deleting the user, runs the leavers'
cascade; a deleted user's identity link goes too, so the provider sees them gone (404).
Groups are the provider's groups (`ScimGroup`); their names map to roles through
`CONSOLE_SSO_GROUP_ROLES`, as the groups header's and the group claim's do, and each
membership change re-applies the roles of the people it touches.

The provider authenticates with a bearer token stored only as its SHA-256 hash (the token is
random, 256 bits: a slow hash would add nothing); `manage.py scim_token` replaces it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from deployments_ui import audit
from deployments_ui.accounts import leaving, sso
from deployments_ui.accounts.models import ScimGroup, ScimToken, SsoIdentity
from deployments_ui.audit.models import AuditEvent

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_COUNT = 200
VIA = "provisioning (SCIM)"
_FILTER = re.compile(r'^\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$', re.IGNORECASE)


class ScimError(Exception):
    """An answer in SCIM's error shape: HTTP status, scimType (or ""), plain detail."""

    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


# --- the token ---------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_valid(presented: str) -> bool:
    """Whether `presented` is the current provisioning token."""
    if not presented:
        return False
    return ScimToken.objects.filter(token_hash=hash_token(presented)).exists()


def rotate_token(actor: audit.Actor) -> str:
    """A new token (returned once, never stored); the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        ScimToken.objects.all().delete()
        ScimToken.objects.create(token_hash=hash_token(token))
        audit.record_account(
            actor=actor, action=AuditEvent.Action.SCIM_TOKEN, account="", message="Replaced."
        )
    return token


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    start_index: int
    count: int


def page_from(params: dict[str, str]) -> Page:
    try:
        start = max(1, int(params.get("startIndex") or 1))
        count = min(MAX_COUNT, max(0, int(params.get("count") or 100)))
    except ValueError:
        problem = "startIndex and count must be whole numbers."
        raise ScimError(400, problem, "invalidValue") from None
    return Page(start, count)


def parse_filter(text: str, allowed: Iterable[str]) -> tuple[str, str] | None:
    """(attribute, value) of an `attribute eq "value"` filter; None when there is no filter."""
    if not text.strip():
        return None
    match = _FILTER.match(text)
    names = {name.lower(): name for name in allowed}
    if not match or match.group(1).lower() not in names:
        wanted = " or ".join(f'{name} eq "..."' for name in allowed)
        raise ScimError(400, f"Only filters of the form {wanted} are supported.", "invalidFilter")
    value = re.sub(r"\\(.)", r"\1", match.group(2))
    return names[match.group(1).lower()], value


def list_response(resources: list[dict[str, Any]], total: int, page: Page) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": page.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _sliced(queryset: QuerySet, page: Page) -> list:
    offset = page.start_index - 1
    return list(queryset[offset : offset + page.count])


# --- users ---------------------------------------------------------------------------------


def _id(text: str) -> int | None:
    """A resource id as the database holds it; None for anything else (too long included)."""
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _links() -> QuerySet[SsoIdentity]:
    return SsoIdentity.objects.select_related("user").order_by("pk")


def link_for(resource_id: str) -> SsoIdentity:
    pk = _id(resource_id)
    link = _links().filter(user_id=pk).first() if pk is not None else None
    if link is None:
        raise ScimError(404, f"There is no user {resource_id[:40]!r}.")
    return link


def user_resource(link: SsoIdentity, location: str) -> dict[str, Any]:
    user = link.user
    groups = ScimGroup.objects.filter(members=user).order_by("pk")
    return {
        "schemas": [USER_SCHEMA],
        "id": str(user.pk),
        "userName": link.identity,
        "name": {
            "givenName": user.first_name,
            "familyName": user.last_name,
            "formatted": user.get_full_name(),
        },
        "displayName": user.get_full_name() or link.identity,
        "emails": [{"value": user.email, "type": "work", "primary": True}] if user.email else [],
        "active": user.is_active,
        "groups": [{"value": str(g.pk), "display": g.display_name} for g in groups],
        "meta": {
            "resourceType": "User",
            "created": link.created_at.isoformat(),
            "lastModified": link.created_at.isoformat(),
            "location": location,
        },
    }


def list_users(params: dict[str, str]) -> tuple[list[SsoIdentity], int, Page]:
    page = page_from(params)
    links = _links()
    wanted = parse_filter(params.get("filter", ""), ["userName"])
    if wanted is not None:
        links = links.filter(identity=sso.normalise_identity(wanted[1]) or "")
    return _sliced(links, page), links.count(), page


def _identity(value: Any) -> str:
    identity = sso.normalise_identity(value) if isinstance(value, str) else None
    if identity is None:
        raise ScimError(400, "userName must be the person's email address.", "invalidValue")
    return identity


def _active(value: Any) -> bool:
    """Entra ID sends "True"/"False" as strings; everyone else booleans."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ScimError(400, "active must be true or false.", "invalidValue")


@dataclass
class Changes:
    """What a create, replace or patch asks of a user."""

    identity: str | None = None
    given: str | None = None
    family: str | None = None
    email: str | None = None
    active: bool | None = None


def _primary_email(emails: Any) -> str | None:
    if not isinstance(emails, list):
        return None
    found = [item for item in emails if isinstance(item, dict) and item.get("value")]
    primary = [item for item in found if item.get("primary") in (True, "true", "True")]
    chosen = primary or found
    return str(chosen[0]["value"])[:254] if chosen else None


def changes_from(body: dict[str, Any]) -> Changes:
    """A whole user as POST and PUT send it."""
    given = body.get("name")
    name: dict[str, Any] = given if isinstance(given, dict) else {}
    changes = Changes(identity=_identity(body.get("userName")))
    changes.given = str(name.get("givenName") or "")[:150]
    changes.family = str(name.get("familyName") or "")[:150]
    changes.email = _primary_email(body.get("emails")) or ""
    if "active" in body:
        changes.active = _active(body["active"])
    return changes


def create_user(body: dict[str, Any], actor: audit.Actor) -> SsoIdentity:
    changes = changes_from(body)
    assert changes.identity is not None
    if SsoIdentity.objects.filter(identity=changes.identity).exists():
        raise ScimError(409, f"A user named {changes.identity} already exists.", "uniqueness")
    try:
        with transaction.atomic():
            user, created = sso.linked_user(changes.identity)
            if not created:
                raise ScimError(409, f"A user named {user} already exists.", "uniqueness")
            _apply(user, changes, actor)
            audit.record_account(
                actor=actor,
                action=AuditEvent.Action.PROVISIONED,
                account=user.get_username(),
                after={"identity": changes.identity, "active": user.is_active},
            )
    except sso.SsoClash:
        raise ScimError(
            409,
            f"The console already has an account named {changes.identity} that single sign-on "
            "did not make. A console administrator must link it first.",
            "uniqueness",
        ) from None
    return link_for(str(user.pk))


def replace_user(link: SsoIdentity, body: dict[str, Any], actor: audit.Actor) -> SsoIdentity:
    with transaction.atomic():
        _apply(link.user, changes_from(body), actor)
    return link_for(str(link.user_id))


def patch_user(link: SsoIdentity, body: dict[str, Any], actor: audit.Actor) -> SsoIdentity:
    changes = Changes()
    for op, path, value in operations(body):
        if path:
            _patch_path(changes, op, path, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _patch_path(changes, op, str(key), item)
        else:
            problem = "An operation without a path needs an object value."
            raise ScimError(400, problem, "invalidValue")
    with transaction.atomic():
        _apply(link.user, changes, actor)
    return link_for(str(link.user_id))


def _patch_path(changes: Changes, op: str, path: str, value: Any) -> None:
    key = path.lower()
    text = "" if op == "remove" else value
    if key == "active":
        changes.active = False if op == "remove" else _active(value)
    elif key == "username":
        changes.identity = _identity(value)
    elif key == "name.givenname":
        changes.given = str(text or "")[:150]
    elif key == "name.familyname":
        changes.family = str(text or "")[:150]
    elif key == "name" and isinstance(value, dict):
        changes.given = str(value.get("givenName") or "")[:150]
        changes.family = str(value.get("familyName") or "")[:150]
    elif key == "emails":
        changes.email = _primary_email(value) or ""
    elif key.startswith("emails[") and key.endswith("].value"):
        changes.email = str(text or "")[:254]
    # Other attributes (displayName, title, the enterprise extension ...) are not kept.


def operations(body: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(op, path, value) of each PatchOp operation, op in lower case."""
    ops = body.get("Operations")
    if not isinstance(ops, list) or not ops:
        raise ScimError(400, "A PATCH needs a list of Operations.", "invalidSyntax")
    found = []
    for item in ops:
        op = str(item.get("op", "")).lower() if isinstance(item, dict) else ""
        if op not in {"add", "replace", "remove"}:
            problem = "Each operation's op must be add, replace or remove."
            raise ScimError(400, problem, "invalidSyntax")
        found.append((op, str(item.get("path") or ""), item.get("value")))
    return found


def _apply(user: User, changes: Changes, actor: audit.Actor) -> None:
    """Save the changes; a change of `active` runs the leavers' cascade or reactivates."""
    if changes.identity is not None:
        _rename(user, changes.identity)
    fields = []
    for field, value in (
        ("first_name", changes.given),
        ("last_name", changes.family),
        ("email", changes.email),
    ):
        if value is not None and getattr(user, field) != value:
            setattr(user, field, value)
            fields.append(field)
    if fields:
        user.save(update_fields=fields)
    if changes.active is False and user.is_active:
        leaving.deactivate(user=user, actor=actor, via=VIA)
    elif changes.active is True and not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit.record_account(
            actor=actor,
            action=AuditEvent.Action.REACTIVATED,
            account=user.get_username(),
            message=f"Switched on again through {VIA}.",
        )


def _rename(user: User, identity: str) -> None:
    link = SsoIdentity.objects.get(user=user)
    if link.identity == identity:
        return
    try:
        with transaction.atomic():
            SsoIdentity.objects.filter(pk=link.pk).update(identity=identity)
    except IntegrityError:
        raise ScimError(409, f"A user named {identity} already exists.", "uniqueness") from None


def delete_user(link: SsoIdentity, actor: audit.Actor) -> None:
    """Deactivate (the cascade), then forget the identity: the account stays for the audit
    trail, switched off, and the provider no longer sees it."""
    with transaction.atomic():
        leaving.deactivate(user=link.user, actor=actor, via=VIA)
        for group in ScimGroup.objects.filter(members=link.user):
            group.members.remove(link.user)
        link.delete()


# --- groups --------------------------------------------------------------------------------


# Other attributes (externalId ...) are not kept.
