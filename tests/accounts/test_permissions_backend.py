"""One query for a person's permissions gives what Django's ModelBackend gives."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments_ui.accounts.permissions import OneQueryPermissions

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("role", ["viewer", "operator", "editor", "admin_user", "auditor"])
def test_it_gives_what_model_backend_gives(request, role):
    user = request.getfixturevalue(role)
    ours = OneQueryPermissions().get_all_permissions(fresh(user))
    assert ours == ModelBackend().get_all_permissions(fresh(user))
    assert ours  # every role holds something


def test_own_permissions_and_groups_together_in_one_query(viewer):
    viewer.user_permissions.add(Permission.objects.get(codename="break_glass"))
    user = fresh(viewer)
    with CaptureQueriesContext(connection) as queries:
        held = OneQueryPermissions().get_all_permissions(user)
        assert user.has_perm("deployments_ui.break_glass")
        assert user.has_perm("deployments_ui.view_deployments")  # from the Viewer group
    assert len(queries) == 1
    assert held == ModelBackend().get_all_permissions(fresh(viewer))


def test_nothing_for_the_inactive_and_everything_for_a_superuser(viewer):
    viewer.is_active = False
    assert OneQueryPermissions().get_all_permissions(viewer) == set()
    boss = User.objects.create_superuser("boss", password="x")
    assert len(OneQueryPermissions().get_all_permissions(boss)) == Permission.objects.count()


def test_a_role_taken_away_is_gone_on_the_next_request(viewer):
    assert fresh(viewer).has_perm("deployments_ui.view_deployments")
    viewer.groups.remove(Group.objects.get(name="Viewer"))
    assert not fresh(viewer).has_perm("deployments_ui.view_deployments")
