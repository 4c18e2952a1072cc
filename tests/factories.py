"""Test data, built one way: people with their roles and keys, who acts, Patchworks deployments
as the API sends them, and audit events as the services record them.

Tests import these; `conftest.py` holds only fixtures.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.patchworks import Deployment, parse_deployment

PASSWORD = "correct-horse-battery"

# People ----------------------------------------------------------------------------------------

_AUDITOR = importlib.import_module("deployments_ui.migrations.0020_auditor_role")
ROLES: dict[str, list[str]] = {
    **importlib.import_module("deployments_ui.migrations.0002_roles").ROLES,
    **_AUDITOR.ROLES,
}
PEOPLE_PERMISSIONS: list[str] = importlib.import_module(
    "deployments_ui.migrations.0004_admins_manage_people"
).PEOPLE_PERMISSIONS
CHANGE_CONTROL_GRANTS: dict[str, list[str]] = importlib.import_module(
    "deployments_ui.migrations.0010_change_control"
).ROLE_GRANTS
ROLE_GRANTS = [CHANGE_CONTROL_GRANTS, _AUDITOR.ROLE_GRANTS]


def ensure_roles() -> None:
    """Create the role groups with their permissions, as the migrations do, if missing.

    The role groups come from a data migration, and a transactional test (live server, browser,
    real servers) ends by flushing every table, so the transactional tests after it find no
    groups. (serialized_rollback does not help: the flush re-creates content types with new ids,
    and restoring the serialized ones then fails on their unique names.)
    """
    create_permissions(apps.get_app_config("deployments_ui"), verbosity=0)
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="deployments_ui", codename__in=codenames
            )
        )
    Group.objects.get(name="Admin").permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__in=PEOPLE_PERMISSIONS)
    )
    for grants in ROLE_GRANTS:
        for role, codenames in grants.items():
            Group.objects.get(name=role).permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="deployments_ui", codename__in=codenames
                )
            )


def make_user(
    username: str, role: str | None, *, full_name: str = "", api_key: str | None = None
) -> User:
    """A person with one role (a Django group) and, if given, a stored Patchworks key."""
    from deployments_ui.accounts.credentials import store_api_key

    ensure_roles()
    first, _, last = full_name.partition(" ")
    user = User.objects.create_user(
        username, f"{username}@example.com", PASSWORD, first_name=first, last_name=last
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    if api_key:
        store_api_key(user, api_key)
    return user


def actor_for(user: User | None, **overrides: Any) -> Actor:
    """The person as the audit trail records them, signed in through SSO from a fixed address."""
    values = {
        "user": user,
        "username": user.get_username() if user else "",
        "name": user.get_full_name() if user else "",
        "sso_identity": "ann@example.com",
        "sign_in_method": "sso",
        "ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (test)",
        "request_id": "req-0001",
    }
    return Actor(**{**values, **overrides})


# Deployments, as Patchworks sends them ---------------------------------------------------------


def deployment_json(**overrides: Any) -> dict:
    """One deployment with every relation included, as the list and detail endpoints send it."""
    body = {
        "id": 42,
        "flow_version_id": 11,
        "virtual_environment_id": 3,
        "package_id": 8,
        "priority": 2,
        "enabled_at": "2025-03-01T09:30:00.000000Z",
        "enabled_by": 5,
        "user_id": 6,
        "name": "Orders to ERP",
        "global": False,
        "flow_version_iteration": 4,
        "created_at": "2025-02-01T08:00:00.000000Z",
        "updated_at": "2025-03-01T09:30:00.000000Z",
        "flowVersion": {
            "id": 11,
            "flow_id": 7,
            "iteration": 4,
            "status": "Deployed",
            "flow": {"id": 7, "name": "Orders to ERP", "priority": 3},
        },
        "virtualEnvironment": {"id": 3, "name": "Production EU", "type": "live"},
        "package": {"id": 8, "name": "Shopify"},
        "enabledBy": {"id": 5, "name": "Ada Admin", "email": "ada@example.com"},
    }
    body.update(overrides)
    return body


def deployment(**overrides: Any) -> Deployment:
    """`deployment_json` as the client reads it."""
    return parse_deployment(deployment_json(**overrides))


# Audit events ----------------------------------------------------------------------------------

TARGET = DeploymentRef(
    deployment_id="101",
    flow_version_id="11",
    flow_id="1",
    flow_name="Orders → Shopify",
    environment_id="2",
    environment_name="UK Live",
    environment_type="live",
)
ENABLED = {
    "deployment_id": "101",
    "enabled": True,
    "enabled_at": "2025-03-01T09:00:00+00:00",
    "enabled_by": "Dana Dashboard",
    "priority": 3,
    "virtual_environment_id": "2",
    "environment_name": "UK Live",
    "environment_type": "live",
    "flow_version_id": "11",
    "flow_version_iteration": 3,
}
DISABLED = {**ENABLED, "enabled": False, "enabled_at": None, "enabled_by": None}


def console_disable(
    actor: Actor,
    *,
    outcome: str | None = "succeeded",
    reason: str = "supplier outage",
    target: DeploymentRef = TARGET,
    message: str = "",
    status: int | None = None,
):
    """Record a disable as the services do: the attempt, then (unless None) its outcome."""
    attempt = audit.record_attempt(
        actor=actor,
        action="disable",
        target=target,
        before=ENABLED,
        after=DISABLED,
        reason=reason,
    )
    if outcome is not None:
        audit.record_outcome(attempt, outcome=outcome, message=message, upstream_status=status)
    return attempt
