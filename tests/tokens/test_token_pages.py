"""The token pages: made on the person's own page and shown once; revoked after a question;
everyone's for Admins."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments_ui.models import ApiToken, AuditEvent
from deployments_ui.tokens import services

pytestmark = pytest.mark.django_db


def expiry(days=10) -> str:
    return str(timezone.localdate() + timedelta(days=days))


def test_a_person_makes_a_token_and_sees_it_once(client, operator):
    client.force_login(operator)
    response = client.post(
        "/account/tokens/",
        {"name": "nightly maintenance", "expires_on": expiry(), "scope": "test_only"},
    )
    assert response.status_code == 200
    secret = re.search(r'value="(cpt_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert services.authenticate(secret) == token
    assert (token.user, token.scope) == (operator, "test_only")
    again = client.get("/account/tokens/").content.decode()
    assert "nightly maintenance" in again and secret not in again


def test_bad_input_shows_the_form_again(client, operator):
    client.force_login(operator)
    response = client.post("/account/tokens/", {"name": "", "expires_on": "soon"})
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_an_expiry_in_the_past_is_refused_beside_its_field(client, operator):
    client.force_login(operator)
    response = client.post(
        "/account/tokens/", {"name": "x", "expires_on": expiry(-2), "scope": "role"}
    )
    assert response.status_code == 400
    assert "Choose an expiry date in the future." in response.content.decode()


def test_revoking_asks_first(client, operator):
    token, _ = make_for(operator)
    client.force_login(operator)
    page = client.get(f"/account/tokens/{token.pk}/revoke/")
    assert "Revoke the token" in page.content.decode()
    assert ApiToken.objects.get().revoked_at is None
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert ApiToken.objects.get().revoked_at is not None


def test_another_persons_token_is_not_found_for_them(client, operator, editor):
    token, _ = make_for(editor)
    client.force_login(operator)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_an_admin_sees_and_revokes_everyones_tokens(client, operator, admin_user):
    token, _ = make_for(operator)
    client.force_login(admin_user)
    listing = client.get("/settings/tokens/").content.decode()
    assert "Oscar Operator" in listing and token.prefix in listing
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert ApiToken.objects.get().revoked_by_name == "Adam Admin"
    assert AuditEvent.objects.filter(action="token_revoked").exists()


def test_only_admins_see_everyones_tokens(client, operator, admin_user):
    client.force_login(operator)
    assert client.get("/settings/tokens/").status_code == 403
    assert "/settings/tokens/" not in client.get("/account/tokens/").content.decode()
    client.force_login(admin_user)
    assert "/settings/tokens/" in client.get("/account/tokens/").content.decode()


def make_for(person):
    from deployments_ui.audit import Actor

    return services.create_token(
        actor=Actor(user=person, name=person.get_full_name()),
        user=person,
        name="release",
        expires_at=timezone.now() + timedelta(days=3),
    )
