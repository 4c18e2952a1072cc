"""SCIM 2.0 Groups: the identity provider's groups and their members, whose names map to roles
as the groups header's do (`accounts.scim` has the Users and what both share)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from deployments_ui import audit
from deployments_ui.accounts import sso
from deployments_ui.accounts.models import ScimGroup, SsoIdentity
from deployments_ui.accounts.scim import (
    _MEMBER_PATH,
    GROUP_SCHEMA,
    Page,
    ScimError,
    _id,
    _sliced,
    operations,
    page_from,
    parse_filter,
)


def group_for(resource_id: str) -> ScimGroup:
    pk = _id(resource_id)
    group = ScimGroup.objects.filter(pk=pk).first() if pk is not None else None
    if group is None:
        raise ScimError(404, f"There is no group {resource_id[:40]!r}.")
    return group


def group_resource(group: ScimGroup, location: str, members: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.pk),
        "displayName": group.display_name,
    }
    if group.external_id:
        resource["externalId"] = group.external_id
    if members:
        links = SsoIdentity.objects.filter(user__in=group.members.all()).order_by("user_id")
        resource["members"] = [
            {"value": str(link.user_id), "display": link.identity} for link in links
        ]
    resource["meta"] = {
        "resourceType": "Group",
        "created": group.created_at.isoformat(),
        "lastModified": group.created_at.isoformat(),
        "location": location,
    }
    return resource


def list_groups(params: dict[str, str]) -> tuple[list[ScimGroup], int, Page]:
    page = page_from(params)
    groups = ScimGroup.objects.order_by("pk")
    wanted = parse_filter(params.get("filter", ""), ["displayName", "externalId"])
    if wanted is not None:
        field = "display_name" if wanted[0] == "displayName" else "external_id"
        groups = groups.filter(**{field: wanted[1]})
    return _sliced(groups, page), groups.count(), page


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScimError(400, "displayName must be the group's name.", "invalidValue")
    return value.strip()[:255]


def _member_ids(value: Any) -> set[int]:
    """The accounts a members list names (people not provisioned here are left out)."""
    items = value if isinstance(value, list) else [value]
    wanted = {str(item.get("value")) for item in items if isinstance(item, dict)}
    ids = {pk for pk in map(_id, wanted) if pk is not None}
    return set(SsoIdentity.objects.filter(user_id__in=ids).values_list("user_id", flat=True))


def create_group(body: dict[str, Any], actor: audit.Actor) -> ScimGroup:
    name = _display_name(body.get("displayName"))
    try:
        with transaction.atomic():
            group = ScimGroup.objects.create(
                display_name=name, external_id=str(body.get("externalId") or "")[:255]
            )
            _set_members(group, _member_ids(body.get("members", [])), actor)
    except IntegrityError:
        raise ScimError(409, f"A group named {name} already exists.", "uniqueness") from None
    return group


def replace_group(group: ScimGroup, body: dict[str, Any], actor: audit.Actor) -> ScimGroup:
    with transaction.atomic():
        _rename_group(group, _display_name(body.get("displayName")), actor)
        _set_members(group, _member_ids(body.get("members", [])), actor)
    return group


def patch_group(group: ScimGroup, body: dict[str, Any], actor: audit.Actor) -> ScimGroup:
    with transaction.atomic():
        for op, path, value in operations(body):
            _patch_group(group, op, path, value, actor)
    return group


def _patch_group(group: ScimGroup, op: str, path: str, value: Any, actor: audit.Actor) -> None:
    current = set(group.members.values_list("pk", flat=True))
    one = _MEMBER_PATH.match(path)
    if one is not None and op == "remove":
        pk = _id(one.group(1))
        gone = {pk} if pk is not None else set()
        _set_members(group, current - gone, actor)
    elif path.lower() == "members":
        named = _member_ids(value) if value is not None else set()
        new = {"add": current | named, "replace": named}.get(op, current - named)
        if op == "remove" and value is None:
            new = set()
        _set_members(group, new, actor)
    elif path.lower() == "displayname":
        _rename_group(group, _display_name(value), actor)
    elif not path and isinstance(value, dict):
        if "displayName" in value:
            _rename_group(group, _display_name(value["displayName"]), actor)
        if "members" in value:
            named = _member_ids(value["members"])
            _set_members(group, current | named if op == "add" else named, actor)


def _rename_group(group: ScimGroup, name: str, actor: audit.Actor) -> None:
    if group.display_name == name:
        return
    try:
        with transaction.atomic():
            ScimGroup.objects.filter(pk=group.pk).update(display_name=name)
    except IntegrityError:
        raise ScimError(409, f"A group named {name} already exists.", "uniqueness") from None
    group.display_name = name
    _resync(set(group.members.values_list("pk", flat=True)), actor)


def _set_members(group: ScimGroup, members: set[int], actor: audit.Actor) -> None:
    current = set(group.members.values_list("pk", flat=True))
    if members == current:
        return
    group.members.set(list(members))
    _resync(current ^ members, actor)


def delete_group(group: ScimGroup, actor: audit.Actor) -> None:
    with transaction.atomic():
        members = set(group.members.values_list("pk", flat=True))
        group.delete()
        _resync(members, actor)


def _resync(user_ids: set[int], actor: audit.Actor) -> None:
    """Give each person the roles their provisioned groups map to now."""
    for user in User.objects.filter(pk__in=user_ids, is_active=True):
        names = list(ScimGroup.objects.filter(members=user).values_list("display_name", flat=True))
        sso.sync_roles(actor, user, sso.roles_or_default(names), groups=names)
