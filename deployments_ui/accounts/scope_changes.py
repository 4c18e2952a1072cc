"""Giving and taking away scoped roles (accounts.scopes), each change audited before → after.

An Admin edits a person's scopes on one page (`views/people.py`); the identity provider's groups
give scopes too (`sync_sso_scopes`, from `CONSOLE_SSO_GROUP_SCOPES`), replacing only the scopes
they gave before. Whatever waits in the person's name (open change requests, schedules, bulk
jobs) is checked again when it is applied, at its own place, by the write path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from deployments_ui import audit
from deployments_ui.accounts import leaving, scopes
from deployments_ui.accounts.models import RoleScope
from deployments_ui.audit.models import AuditEvent

logger = logging.getLogger(__name__)
Source = RoleScope.Source


@dataclass(frozen=True)
class Place:
    """Where a scope applies: a type, or one environment; optionally one flow."""

    environment_type: str = ""
    environment_id: str = ""
    environment_name: str = ""
    flow_id: str = ""
    flow_name: str = ""


class ScopeRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _record(actor: audit.Actor, person, before: list[str], message: str) -> None:
    scopes.forget(person)
    after = scopes.describe(person)
    if before == after:
        return
    audit.record_account(
        actor=actor,
        action=AuditEvent.Action.ROLES_CHANGED,
        account=person.get_username(),
        before={"roles": before},
        after={"roles": after},
        message=message,
    )
    leaving.roles_changed(user=person, actor=actor)


@transaction.atomic
def give_scope(*, actor: audit.Actor, person, role: str, place: Place) -> RoleScope:
    """Give `person` the role `role` at `place` (replacing the role they had exactly there)."""
    if role not in scopes.SCOPED_ROLES:
        raise ScopeRefused("Choose Viewer, Operator or Editor.")
    if bool(place.environment_type) == bool(place.environment_id):
        raise ScopeRefused("Choose an environment type or one environment.")
    scopes.forget(person)
    before = scopes.describe(person)
    scope, _ = RoleScope.objects.update_or_create(
        user=person,
        environment_type=place.environment_type,
        environment_id=place.environment_id,
        flow_id=place.flow_id,
        defaults={
            "role": role,
            "environment_name": place.environment_name,
            "flow_name": place.flow_name,
            "source": Source.CONSOLE,
        },
    )
    _record(actor, person, before, "Scoped role given in the console.")
    return scope


@transaction.atomic
def remove_scope(*, actor: audit.Actor, person, scope_id: int) -> None:
    scopes.forget(person)
    before = scopes.describe(person)
    deleted, _ = RoleScope.objects.filter(user=person, pk=scope_id).delete()
    if not deleted:
        raise ScopeRefused("That scoped role was already removed.")
    _record(actor, person, before, "Scoped role removed in the console.")


def scopes_from_groups(groups: Iterable[str]) -> list[tuple[str, Place]]:
    """The scoped roles the identity provider's group names map to (CONSOLE_SSO_GROUP_SCOPES:
    group → "Role@place", where place is test, live, global or env:<id>, optionally followed
    by "/flow:<id>")."""
    mapping = {group.strip(): value for group, value in settings.SSO_GROUP_SCOPES.items()}
    found = []
    for group in (str(item).strip() for item in groups):
        for value in mapping.get(group, "").split(";"):
            parsed = parse_scope(value)
            if parsed is not None and parsed not in found:
                found.append(parsed)
    return found


def parse_scope(value: str) -> tuple[str, Place] | None:
    """'Operator@test', 'Editor@env:12', 'Editor@env:12/flow:7' → (role, Place); None if not
    understood (logged: a typo in the settings must not grant anything)."""
    role, _, where = value.strip().partition("@")
    environment, _, flow = where.partition("/")
    flow_id = flow.removeprefix("flow:") if flow.startswith("flow:") else ""
    if flow and not flow_id:
        environment = ""
    if environment.startswith("env:") and environment[4:]:
        place = Place(environment_id=environment[4:], flow_id=flow_id)
    elif environment in RoleScope.PlaceType.values:
        place = Place(environment_type=environment, flow_id=flow_id)
    else:
        place = None
    if role.strip() not in scopes.SCOPED_ROLES or place is None:
        if value.strip():
            logger.error("CONSOLE_SSO_GROUP_SCOPES: %r is not Role@place", value)
        return None
    return role.strip(), place


@transaction.atomic
def sync_sso_scopes(actor: audit.Actor, person, wanted: list[tuple[str, Place]]) -> None:
    """Give `person` exactly the scopes their groups map to, in place of those groups gave
    before (scopes an Admin gave are kept unless a group gives the same place)."""
    scopes.forget(person)
    before = scopes.describe(person)
    RoleScope.objects.filter(user=person, source=Source.SSO).delete()
    for role, place in wanted:
        RoleScope.objects.update_or_create(
            user=person,
            environment_type=place.environment_type,
            environment_id=place.environment_id,
            flow_id=place.flow_id,
            defaults={"role": role, "source": Source.SSO},
        )
    try:
        _record(actor, person, before, "Scoped roles taken from the identity provider's groups.")
    except audit.AuditUnavailable:
        logger.exception("Could not record the scope change of user %s", person.pk)
