"""Which account single sign-on signs in to, and roles that follow the identity provider.

Every test goes through the real header path: the identity header from a trusted proxy
address (10.0.0.5) signs in, the same header from anywhere else does nothing.
"""

from __future__ import annotations

import importlib
import ipaddress
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, User

from deployments_ui.models import AuditEvent, SsoIdentity
from tests.factories import PASSWORD

PROXY = "10.0.0.5"
OUTSIDER = "203.0.113.9"
PAGE = "/account/api-key/"
ADMIN_PAGE = "/settings/service-key/"


@pytest.fixture
def sso(settings):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    settings.SSO_DEFAULT_ROLE = "Viewer"
    settings.SSO_GROUPS_HEADER = ""
    settings.SSO_GROUP_ROLES = {}
    settings.SSO_REQUIRE_EMAIL = True
    return settings


def via(client, identity: str, addr: str = PROXY, path: str = PAGE, **headers):
    return client.get(path, REMOTE_ADDR=addr, headers={"X-Forwarded-Email": identity, **headers})


def signed_in_as(client) -> User | None:
    pk = client.session.get(SESSION_KEY)
    return User.objects.get(pk=pk) if pk else None


def account_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# A local account is never taken over


@pytest.mark.django_db
def test_an_identity_named_like_the_local_superuser_does_not_sign_in_as_it(client, sso):
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)

    response = via(client, "admin")  # not an email address: refused before any lookup

    assert response.status_code == 302
    assert signed_in_as(client) is None
    assert User.objects.filter(username__iexact="admin").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("claimed", ["admin@example.com", "ADMIN@Example.com"])
def test_a_clash_with_a_local_account_is_refused_with_a_page_and_an_audit_event(
    client, sso, claimed
):
    local = User.objects.create_superuser("admin@example.com", "admin@example.com", PASSWORD)

    response = via(client, claimed)

    assert response.status_code == 403
    assert "already has an account with that name" in response.content.decode()
    assert signed_in_as(client) is None
    assert not SsoIdentity.objects.exists()
    assert User.objects.get(pk=local.pk).is_superuser
    [event] = account_events("sso_refused")
    assert event.outcome == "refused"
    assert event.after == {"account": "admin@example.com"}
    assert event.ip_address == PROXY
    # The proxy repeats the header on every page: one audit event, not one per request.
    via(client, claimed)
    assert len(account_events("sso_refused")) == 1


@pytest.mark.django_db
def test_from_an_untrusted_address_a_clash_is_neither_signed_in_nor_recorded(client, sso):
    User.objects.create_user("admin@example.com", "admin@example.com", PASSWORD)
    response = via(client, "admin@example.com", addr=OUTSIDER)
    assert response.status_code == 302
    assert signed_in_as(client) is None
    assert not account_events("sso_refused")


@pytest.mark.django_db
def test_identities_are_compared_case_insensitively(client, sso):
    via(client, "Ann.Smith@Example.com")
    first = signed_in_as(client)
    client.logout()
    via(client, "ann.smith@example.com")

    assert signed_in_as(client) == first
    assert first.username == "ann.smith@example.com"
    assert SsoIdentity.objects.get().identity == "ann.smith@example.com"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "claimed",
    [
        "ann\u200b@example.com",  # zero-width space
        "ann\u2060@example.com",  # word joiner
        "ann\xe2\x80\x8b@example.com",  # the zero-width space's UTF-8 bytes as Latin-1
        "ann\x85@example.com",  # a C1 control
        "ann.smith",  # not an email address
    ],
)
def test_invisible_characters_and_non_emails_are_refused(client, sso, claimed):
    User.objects.create_user("ann@example.com", "ann@example.com", PASSWORD)
    via(client, claimed)
    assert signed_in_as(client) is None
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_an_identity_an_admin_linked_signs_in_to_that_account(client, sso):
    local = User.objects.create_user("ann", "ann@example.com", PASSWORD)
    admin = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin_client = client.__class__()
    admin_client.force_login(admin)

    response = admin_client.post(
        "/admin/deployments_ui/ssoidentity/add/",
        {"identity": "Ann@Example.com", "user": local.pk},
    )

    assert response.status_code == 302
    assert SsoIdentity.objects.get().identity == "ann@example.com"
    [event] = account_events("sso_linked")
    assert event.actor_username == "root" and event.after["account"] == "ann"
    via(client, "ann@example.com")
    assert signed_in_as(client) == local


@pytest.mark.django_db
def test_the_upgrade_links_only_passwordless_accounts_that_are_not_superusers(db):
    migration = importlib.import_module("deployments_ui.migrations.0012_sso_identity")
    made_by_sso = User.objects.create_user("Bea@example.com")  # no password, as SSO made it
    User.objects.create_user("local@example.com", password=PASSWORD)
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    passwordless_superuser = User.objects.create_user("root@example.com", is_superuser=True)

    SsoIdentity.objects.all().delete()
    migration.link_existing_sso_accounts(
        apps, SimpleNamespace(connection=SimpleNamespace(alias="default"))
    )

    assert {(link.identity, link.user_id) for link in SsoIdentity.objects.all()} == {
        ("bea@example.com", made_by_sso.pk)
    }
    assert not SsoIdentity.objects.filter(user=passwordless_superuser).exists()


# Roles follow the identity provider, for everyone, inside a session too


@pytest.fixture
def groups(sso):
    sso.SSO_GROUPS_HEADER = "X-Forwarded-Groups"
    sso.SSO_GROUP_ROLES = {"admins": "Admin", "ops": "Operator"}
    return sso


@pytest.mark.django_db
def test_roles_follow_the_groups_header_inside_the_same_session(client, groups):
    assert via(client, "ann@example.com", path=ADMIN_PAGE, **{"X-Forwarded-Groups": "admins"})
    assert via(client, "ann@example.com", path=ADMIN_PAGE, **{"X-Forwarded-Groups": "admins"})
    session_key = client.session.session_key
    assert signed_in_as(client).is_staff

    response = via(client, "ann@example.com", path=ADMIN_PAGE, **{"X-Forwarded-Groups": "ops"})

    assert response.status_code == 403
    assert client.session.session_key == session_key  # the same session, roles re-applied
    ann = signed_in_as(client)
    assert list(ann.groups.values_list("name", flat=True)) == ["Operator"]
    assert not ann.is_staff
    change = account_events("roles_changed")[-1]
    assert (change.before, change.after) == (
        {"roles": ["Admin"]},
        {"account": "ann@example.com", "roles": ["Operator"]},
    )
    admin = via(client, "ann@example.com", path="/admin/", **{"X-Forwarded-Groups": "ops"})
    assert admin.status_code == 403


@pytest.mark.django_db
def test_the_same_groups_header_does_not_touch_roles_again(client, groups):
    via(client, "ann@example.com", **{"X-Forwarded-Groups": "ops"})
    before = len(account_events("roles_changed"))
    via(client, "ann@example.com", **{"X-Forwarded-Groups": "ops"})
    assert len(account_events("roles_changed")) == before


@pytest.mark.django_db
def test_sso_role_sync_also_applies_to_superusers(client, groups):
    boss = User.objects.create_user("boss@example.com", is_superuser=True, is_staff=True)
    boss.groups.add(Group.objects.get(name="Admin"))
    SsoIdentity.objects.create(identity="boss@example.com", user=boss)

    response = via(client, "boss@example.com", path=ADMIN_PAGE, **{"X-Forwarded-Groups": "ops"})

    assert response.status_code == 403
    boss.refresh_from_db()
    assert not boss.is_superuser and not boss.is_staff
    assert list(boss.groups.values_list("name", flat=True)) == ["Operator"]
    assert "Superuser status removed" in account_events("roles_changed")[-1].message
