"""Roles for transactional tests (live_server, browsers, real servers).

The role groups come from a data migration, and a transactional test ends by flushing every
table, so the transactional tests that run after it find no groups. (serialized_rollback does
not help: the flush re-creates content types with new ids, and restoring the serialized ones
then fails on their unique names.) Request `roles`, or call `ensure_roles()`, to have them.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

ROLES: dict[str, list[str]] = importlib.import_module("deployments_ui.migrations.0002_roles").ROLES
PEOPLE_PERMISSIONS: list[str] = importlib.import_module(
    "deployments_ui.migrations.0004_admins_manage_people"
).PEOPLE_PERMISSIONS
CHANGE_CONTROL_GRANTS: dict[str, list[str]] = importlib.import_module(
    "deployments_ui.migrations.0007_change_control"
).ROLE_GRANTS


def ensure_roles() -> None:
    """Create the four role groups with their permissions, as migration 0002 does, if missing."""
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
    for role, codenames in CHANGE_CONTROL_GRANTS.items():
        Group.objects.get(name=role).permissions.add(
            *Permission.objects.filter(
                content_type__app_label="deployments_ui", codename__in=codenames
            )
        )


@pytest.fixture
def roles(transactional_db) -> None:
    ensure_roles()
