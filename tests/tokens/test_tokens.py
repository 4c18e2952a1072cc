"""Personal API tokens: stored hashed, shown once, expiring, revocable, narrowed by scope, and
every step in the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from deployments_ui.audit import Actor, describe
from deployments_ui.core.identity import EnvironmentRef
from deployments_ui.models import ApiToken, AuditEvent
from deployments_ui.tokens import scope, services
from deployments_ui.tokens.services import TokenRefused

pytestmark = pytest.mark.django_db
LIVE = EnvironmentRef(id="3", name="UK Live", type="live")
TEST = EnvironmentRef(id="4", name="UK Test", type="test")


def make(person, name="nightly maintenance", days=30, kind=ApiToken.Scope.ROLE):
    return services.create_token(
        actor=Actor(user=person, username=person.username, name=person.get_full_name()),
        user=person,
        name=name,
        expires_at=timezone.now() + timedelta(days=days),
        scope=kind,
    )


def test_a_token_is_stored_only_as_its_hash(ann):
    token, secret = make(ann)
    assert secret.startswith("cpt_") and len(secret) > 40
    stored = ApiToken.objects.values().get(pk=token.pk)
    assert secret not in {str(value) for value in stored.values()}
    assert stored["digest"] == services.digest_of(secret)
    assert secret.startswith(stored["prefix"]) and len(stored["prefix"]) == 12


def test_the_secret_authenticates_and_nothing_else_does(ann):
    token, secret = make(ann)
    assert services.authenticate(secret) == token
    assert services.authenticate(secret + "x") is None
    assert services.authenticate(token.digest) is None
    assert services.authenticate("") is None


def test_two_tokens_have_different_secrets(ann):
    _, first = make(ann, name="one")
    _, second = make(ann, name="two")
    assert first != second


def test_an_expired_token_no_longer_works(ann):
    token, secret = make(ann)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.authenticate(secret) is None


def test_a_revoked_token_no_longer_works_and_the_revocation_is_recorded(ann, admin_user):
    token, secret = make(ann)
    admin = Actor(user=admin_user, username="adam", name="Adam Admin")
    services.revoke_token(actor=admin, user=admin_user, token=token)
    assert services.authenticate(secret) is None
    event = AuditEvent.objects.filter(action="token_revoked").get()
    assert describe(event) == "Adam Admin revoked API token 'nightly maintenance' of ann"
    with pytest.raises(TokenRefused, match="already revoked"):
        services.revoke_token(actor=admin, user=admin_user, token=token)


def test_only_the_owner_or_an_admin_may_revoke(ann, operator):
    token, _ = make(ann)
    with pytest.raises(TokenRefused):
        services.revoke_token(actor=Actor(name="Oscar"), user=operator, token=token)
    assert ApiToken.objects.get().revoked_at is None


def test_a_deactivated_persons_token_no_longer_works(ann):
    _, secret = make(ann)
    ann.is_active = False
    ann.save()
    assert services.authenticate(secret) is None


def test_making_a_token_is_recorded_in_a_sentence(ann):
    make(ann, kind=ApiToken.Scope.READ_ONLY)
    event = AuditEvent.objects.filter(action="token_made").get()
    sentence = describe(event)
    assert sentence.startswith("Ann Smith made API token 'nightly maintenance' (Read only")
    assert "cpt_" not in str(event.after.get("token"))


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [
        ("", 30, "name"),
        ("x" * 101, 30, "name"),
        ("ok", -1, "expires_at"),
        ("ok", 400, "expires_at"),
    ],
)
def test_a_token_needs_a_name_and_an_expiry_within_the_limit(ann, name, days, field):
    with pytest.raises(TokenRefused) as refused:
        make(ann, name=name, days=days)
    assert refused.value.field == field
    assert not ApiToken.objects.exists()


def test_names_are_unique_among_a_persons_active_tokens(ann, operator):
    make(ann)
    with pytest.raises(TokenRefused, match="already have"):
        make(ann)
    make(operator)  # another person's may share the name


# Scope: a filter on top of the role


@pytest.mark.parametrize(
    ("kind", "places", "allowed"),
    [
        (ApiToken.Scope.ROLE, [LIVE], True),
        (ApiToken.Scope.READ_ONLY, [TEST], False),
        (ApiToken.Scope.TEST_ONLY, [TEST], True),
        (ApiToken.Scope.TEST_ONLY, [LIVE], False),
        (ApiToken.Scope.TEST_ONLY, [TEST, LIVE], False),
        (ApiToken.Scope.TEST_ONLY, [EnvironmentRef()], False),  # the global deployment
    ],
)
def test_a_tokens_scope_narrows_the_changes_it_may_make(ann, kind, places, allowed):
    token, _ = make(ann, kind=kind)
    scope.acting_with(ann, token)
    assert (scope.refusal(ann, places) == "") is allowed


def test_without_a_token_nothing_is_narrowed(ann):
    assert scope.refusal(ann, [LIVE]) == ""


def test_a_token_acts_as_its_person_and_is_named_in_the_trail(ann):
    token, _ = make(ann)
    request = RequestFactory().post("/api/v1/x", HTTP_USER_AGENT="nightly.sh")
    actor = services.actor_for(request, token)
    assert (actor.name, actor.sign_in_method, actor.token) == ("Ann Smith", "token", token.name)
    assert actor.user == ann and actor.user_agent == "nightly.sh"
