"""Django's admin for Admins: people and roles, never superuser status or superusers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from deployments_ui.models import AuditEvent
from tests.factories import PASSWORD


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def change_form(user: User, **overrides) -> dict:
    """What the admin's change form posts for `user`, with `overrides`."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "date_joined_0": "2025-01-01",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2025-01-01",
        "initial-date_joined_1": "09:00:00",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_an_admin_cannot_make_themselves_superuser(admin_client, admin_user):
    everything = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    response = admin_client.post(
        f"/admin/auth/user/{admin_user.pk}/change/",
        change_form(admin_user, is_superuser="on", user_permissions=everything),
    )

    assert response.status_code == 302  # saved: the fields were simply not taken
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert not admin_user.user_permissions.exists()


@pytest.mark.django_db
def test_an_admin_cannot_give_a_role_more_permissions(admin_client):
    viewer_role = Group.objects.get(name="Viewer")
    before = set(viewer_role.permissions.values_list("pk", flat=True))
    admin_client.post(
        f"/admin/auth/group/{viewer_role.pk}/change/",
        {"name": "Viewer", "permissions": list(Permission.objects.values_list("pk", flat=True))},
    )
    assert set(viewer_role.permissions.values_list("pk", flat=True)) == before


@pytest.mark.django_db
def test_superusers_are_out_of_an_admins_reach(admin_client):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)

    assert admin_client.get(f"/admin/auth/user/{root.pk}/password/").status_code == 404
    assert admin_client.get(f"/admin/auth/user/{root.pk}/change/").status_code in (302, 404)
    response = admin_client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"password1": "a-new-pass-phrase-1", "password2": "a-new-pass-phrase-1"},
    )
    assert response.status_code == 404
    root.refresh_from_db()
    assert root.check_password(PASSWORD)
    assert "root" not in admin_client.get("/admin/auth/user/").content.decode()


@pytest.mark.django_db
def test_an_admin_still_manages_people_and_roles_and_it_is_audited(admin_client, viewer):
    operator_role = Group.objects.get(name="Operator")

    response = admin_client.post(
        f"/admin/auth/user/{viewer.pk}/change/",
        change_form(viewer, groups=[str(operator_role.pk)]),
    )

    assert response.status_code == 302
    assert list(viewer.groups.values_list("name", flat=True)) == ["Operator"]
    event = AuditEvent.objects.get(action="roles_changed")
    assert event.actor_username == "adam"
    assert (event.before, event.after) == (
        {"roles": ["Viewer"]},
        {"account": "vera", "roles": ["Operator"]},
    )


@pytest.mark.django_db
def test_a_superuser_keeps_every_power(admin_user):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(root)
    response = client.post(
        f"/admin/auth/user/{admin_user.pk}/change/", change_form(admin_user, is_superuser="on")
    )
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.is_superuser
