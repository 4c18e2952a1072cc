"""Making, using and revoking personal API tokens; every step is an audit event.

A token is `cpt_` and 43 random characters, shown once when it is made; the console keeps its
SHA-256 and its first characters (to tell tokens apart on a page). Using one needs the token to
be neither revoked nor expired, and its person to be active: the person's role then decides what
it may do, narrowed by the token's scope (`tokens.scope`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core.errors import ActionRefused
from deployments_ui.tokens.models import ApiToken

PREFIX = "cpt_"
SHOWN_CHARACTERS = 8
# How often using a token updates its "last used" time (not on every request).
LAST_USED_EVERY = timedelta(minutes=1)
MANAGE_PERMISSION = "deployments_ui.manage_console"


class TokenRefused(ActionRefused):
    """The console declined to make or revoke a token (plain words; a field error)."""

    http_status = 400

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    *, actor: Actor, user: Any, name: str, expires_at: datetime, scope: str = ApiToken.Scope.ROLE
) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns it and its secret (the only time the secret exists)."""
    name = " ".join(name.split())
    _check(user, name, expires_at, scope)
    secret = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(PREFIX) + SHOWN_CHARACTERS],
            digest=digest_of(secret),
            scope=scope,
            expires_at=expires_at,
        )
        _record(actor, token, AuditEvent.Action.TOKEN_MADE)
    return token, secret


def _check(user: Any, name: str, expires_at: datetime, scope: str) -> None:
    if not name:
        raise TokenRefused(gettext("Give the token a name, e.g. what the script does."), "name")
    if len(name) > ApiToken._meta.get_field("name").max_length:  # type: ignore[operator]
        raise TokenRefused(gettext("Keep the name under 100 characters."), "name")
    if scope not in ApiToken.Scope.values:
        raise TokenRefused(gettext("Choose what the token may do."), "scope")
    now = timezone.now()
    if expires_at <= now:
        raise TokenRefused(gettext("Choose an expiry date in the future."), "expires_at")
    longest = settings.CONSOLE_API_TOKEN_MAX_DAYS
    if expires_at > now + timedelta(days=longest):
        raise TokenRefused(
            gettext("A token can last at most %(days)s days.") % {"days": longest}, "expires_at"
        )
    if active_tokens(user).filter(name=name).exists():
        raise TokenRefused(gettext("You already have a token with this name."), "name")


def authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its person active; None otherwise (no hint why)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(secret)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(*, actor: Actor, user: Any, token: ApiToken) -> ApiToken:
    """Revoke a token: its person may revoke their own, an Admin anyone's."""
    if not may_revoke(user, token):
        raise TokenRefused(gettext("Only the token's owner or an Admin can revoke it."))
    with transaction.atomic():
        now = timezone.now()
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by_name=actor.name
        )
        if not revoked:
            raise TokenRefused(gettext("This token was already revoked."))
        token.revoked_at, token.revoked_by_name = now, actor.name
        _record(actor, token, AuditEvent.Action.TOKEN_REVOKED)
    return token


def may_revoke(user: Any, token: ApiToken) -> bool:
    return user.is_active and (token.user_id == user.pk or user.has_perm(MANAGE_PERMISSION))


def active_tokens(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def tokens_of(user: Any) -> QuerySet[ApiToken]:
    """A person's tokens, newest first, revoked and expired ones included."""
    return ApiToken.objects.filter(user=user)


def everyones_tokens() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user").all()


def actor_for(request: HttpRequest, token: ApiToken) -> Actor:
    """The person behind the token, as the audit trail records them: by that token."""
    user = token.user
    username = user.get_username()
    base = Actor.from_request(request)
    return replace(
        base,
        user=user,
        username=username,
        name=user.get_full_name().strip() or username,
        sso_identity="",
        sign_in_method="token",
        token=token.name,
    )


def _record(actor: Actor, token: ApiToken, action: str) -> None:
    audit.record_account(
        actor=actor,
        action=action,
        account=token.user.get_username(),
        after={
            "token": token.name,
            "scope": token.get_scope_display(),
            "expires_at": token.expires_at.isoformat(),
            "shown": token.prefix,
        },
    )
