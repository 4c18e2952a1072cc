"""Sign-in with OpenID Connect: the console speaks to the identity provider itself.

mozilla-django-oidc runs the authorisation code flow (with PKCE), checks the ID token's
signature against the provider's keys and re-checks the sign-in at the provider every
`CONSOLE_OIDC_RECHECK_SECONDS` (`OidcSessionRefresh`, a silent `prompt=none` round trip).
This module adds what the console needs around it:

- the provider's endpoints from its discovery document (`CONSOLE_OIDC_ISSUER`), or set one by
  one; a provider that cannot be reached or answers nonsense is an `OidcMisconfigured` with a
  plain sentence, never a traceback;
- the ID token's issuer and audience are checked (the library leaves them to us);
- the identity claim (email by default) is normalised as the trusted header's is and linked
  through `SsoIdentity`, so the one-person rules of single sign-on apply unchanged;
- the group claim is mapped to roles by the header's own mapping (`sso.roles_from_groups`),
  at every sign-in and every re-check; losing every role is leaving (the leavers' cascade);
- sign-out ends the session at the provider too (`end_session_endpoint`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django_htmx.http import HttpResponseClientRefresh
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh

from deployments_ui import audit
from deployments_ui.accounts import sso
from deployments_ui.audit.models import AuditEvent

logger = logging.getLogger(__name__)

SIGN_IN_METHOD = "oidc"
BACKEND = "deployments_ui.accounts.oidc.ConsoleOidcBackend"
DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_CACHE_SECONDS = 3600
REFUSAL = "oidc_refusal"
SWITCHED_OFF = "Your console account has been switched off. Ask a console administrator."


class OidcMisconfigured(Exception):
    """The provider cannot be used as configured; the message says why in plain words."""


@dataclass(frozen=True)
class Refusal:
    """Why the provider's answer did not sign the person in, for the page that says so."""

    message: str
    status: int = 403


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str


def enabled() -> bool:
    """Whether sign-in with OpenID Connect is switched on (a client id and a provider)."""
    return bool(
        settings.OIDC_RP_CLIENT_ID
        and (settings.OIDC_ISSUER or settings.OIDC_AUTHORIZATION_ENDPOINT)
    )


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME or "single sign-on"


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _discover(issuer: str) -> dict[str, Any]:
    key = f"oidc-discovery:{issuer}"
    document = cache.get(key)
    if isinstance(document, dict):
        return document
    url = issuer + DISCOVERY_PATH
    name = provider_name()
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
    except requests.RequestException as exc:
        raise OidcMisconfigured(
            f"The console could not reach {name} at {issuer}. Check CONSOLE_OIDC_ISSUER and "
            "that the provider is up."
        ) from exc
    try:
        document = response.json() if response.status_code == 200 else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise OidcMisconfigured(
            f"{name} did not describe itself at {url} (it answered {response.status_code}). "
            "Check CONSOLE_OIDC_ISSUER: it is the issuer's address, without "
            f"{DISCOVERY_PATH}."
        )
    if document.get("issuer", "").rstrip("/") != issuer:
        raise OidcMisconfigured(
            f"{name} calls itself {str(document.get('issuer'))[:200]!r}, not {issuer!r}. "
            "Set CONSOLE_OIDC_ISSUER to exactly the issuer the provider names."
        )
    cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def provider() -> Provider:
    """The provider's endpoints: explicit settings first, then its discovery document.

    Raises OidcMisconfigured with a plain sentence when they cannot be found or make no sense.
    """
    issuer = settings.OIDC_ISSUER.rstrip("/")
    document = _discover(issuer) if issuer else {}
    chosen = {
        "authorization_endpoint": settings.OIDC_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.OIDC_TOKEN_ENDPOINT,
        "userinfo_endpoint": settings.OIDC_USERINFO_ENDPOINT,
        "jwks_uri": settings.OIDC_JWKS_URI,
        "end_session_endpoint": settings.OIDC_END_SESSION_ENDPOINT,
    }
    for field, value in chosen.items():
        chosen[field] = value or document.get(field) or ""
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not _is_url(chosen[field]):
            setting = "CONSOLE_OIDC_" + field.upper()
            raise OidcMisconfigured(
                f"The console does not know {provider_name()}'s {field.replace('_', ' ')}. "
                f"Set CONSOLE_OIDC_ISSUER (discovery) or {setting}."
            )
    for field in ("userinfo_endpoint", "end_session_endpoint"):
        if chosen[field] and not _is_url(chosen[field]):
            chosen[field] = ""
    return Provider(issuer=issuer or str(document.get("issuer", "")), **chosen)


def _claim_groups(claims: dict[str, Any]) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM, []) if settings.OIDC_GROUPS_CLAIM else []
    if isinstance(value, str):
        return [item for item in value.split(",") if item.strip()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _audience_ok(payload: dict[str, Any]) -> bool:
    audience = payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    return settings.OIDC_RP_CLIENT_ID in audiences


class ConsoleOidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with the provider's endpoints found at sign-in time.

    The upper-case properties are the library's attribute names.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads every setting here; ours are read when a sign-in needs them, so a
        # provider that is down does not stop the console (or its password sign-in) starting.
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return provider().token_endpoint

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return provider().userinfo_endpoint

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return provider().jwks_uri

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        if request is None or not enabled() or "code" not in request.GET:
            return None  # a password sign-in: not ours
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload = super().verify_token(token, **kwargs)
        issuer = provider().issuer
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("The ID token was issued by another provider.")
        if not _audience_ok(payload):
            raise SuspiciousOperation("The ID token was made for another application.")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint when there is one."""
        claims = dict(payload)
        if provider().userinfo_endpoint:
            extra = super().get_userinfo(access_token, id_token, payload)
            if isinstance(extra, dict) and extra.get("sub") == payload.get("sub"):
                claims.update(extra)
        return claims

    def _refuse(self, message: str, status: int = 403) -> User | None:
        setattr(self.request, REFUSAL, Refusal(message, status))
        return None

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict) -> User | None:
        claims = self.get_userinfo(access_token, id_token, payload)
        raw = claims.get(settings.OIDC_IDENTITY_CLAIM)
        identity = sso.normalise_identity(raw) if isinstance(raw, str) else None
        if identity is None:
            claim = settings.OIDC_IDENTITY_CLAIM
            logger.warning("Refused an OIDC sign-in: no usable %s claim", claim)
            return self._refuse(
                f"{provider_name()} did not say who you are in a form the console accepts (an "
                "email address). Ask the people who run single sign-on to send your email."
            )
        if settings.OIDC_IDENTITY_CLAIM == "email" and claims.get("email_verified") is False:
            return self._refuse(
                f"{provider_name()} has not confirmed your email address yet, so the console "
                "cannot sign you in with it."
            )
        return self._sign_in(identity, _claim_groups(claims))

    def _sign_in(self, identity: str, groups: list[str]) -> User | None:
        actor = _actor(self.request, identity)
        try:
            with transaction.atomic():
                user, created = sso.linked_user(identity)
                if not user.is_active:
                    logger.warning("Refused OIDC sign-in of deactivated user %s", user.pk)
                    return self._refuse(SWITCHED_OFF)
                if settings.OIDC_GROUPS_CLAIM or created:
                    # Without a group claim (Google), roles are the admin's after the first.
                    sso.sync_roles(actor, user, sso.roles_or_default(groups), groups=groups)
        except sso.SsoClash:
            _record_clash(actor, identity)
            return self._refuse(sso.CLASH_MESSAGE.format(identity=identity))
        if not user.is_active:  # every role gone: the leavers' cascade switched them off
            return self._refuse(SWITCHED_OFF)
        self.request.session["oidc_identity"] = identity
        return user


def _actor(request: HttpRequest, identity: str) -> audit.Actor:
    return audit.Actor(
        name="single sign-on (OpenID Connect)",
        sso_identity=identity,
        sign_in_method=SIGN_IN_METHOD,
        ip_address=sso.client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        request_id=getattr(request, "id", "") or "",
    )


def _record_clash(actor: audit.Actor, identity: str) -> None:
    logger.warning("Refused OIDC sign-in: a local account is already named like the identity")
    try:
        audit.record_account(
            actor=actor,
            action=AuditEvent.Action.SSO_REFUSED,
            account=identity,
            outcome=AuditEvent.Outcome.REFUSED,
            message="A local account has this name and single sign-on did not make it.",
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record a refused OpenID Connect sign-in")


def logout_url(request: HttpRequest) -> str:
    """Where sign-out sends an OIDC person: the provider's end-session page, which comes back
    to the console's sign-in page; the sign-in page itself if the provider has none."""
    back = request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL))
    try:
        endpoint = provider().end_session_endpoint
    except OidcMisconfigured:
        logger.warning("Could not find the provider's end-session endpoint at sign-out")
        return back
    if not endpoint:
        return back
    params = {"post_logout_redirect_uri": back, "client_id": settings.OIDC_RP_CLIENT_ID}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


class OidcSessionRefresh(SessionRefresh):
    """Re-checks an OIDC sign-in at the provider when its time is up (roles follow the groups).

    The library's middleware, with settings read per request (so it starts without the
    provider) and htmx requests answered with a full page reload rather than a redirect that
    the browser would follow inside the table.
    """

    def __init__(self, get_response) -> None:
        MiddlewareMixin.__init__(self, get_response)
        self.OIDC_EXEMPT_URLS = ["oidc-start", "oidc-callback", "logout"]
        self.OIDC_STATE_SIZE = 32
        self.OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
        self.OIDC_USE_NONCE = True
        self.OIDC_NONCE_SIZE = 32

    @property
    def exempt_urls(self) -> set[str]:
        return {reverse(name) for name in self.OIDC_EXEMPT_URLS}

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:
        return provider().authorization_endpoint

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_SCOPES(self) -> str:
        return settings.OIDC_RP_SCOPES

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        ours = request.session.get("sign_in_method") == SIGN_IN_METHOD
        return ours and super().is_refreshable_url(request)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not enabled():
            return None
        try:
            response = super().process_request(request)
        except OidcMisconfigured:
            logger.exception("Could not re-check an OpenID Connect sign-in")
            return None  # the session stays until it ends; the re-check is tried again
        if response is not None and request.headers.get("HX-Request"):
            return HttpResponseClientRefresh()
        return response


class SignOutFormAction:
    """Lets the Sign out form lead on to the provider's end-session page: CSP's form-action
    covers every redirect after a form is sent. Goes after django-csp's middleware, so that
    this runs first on the way out."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if not enabled() or session is None or session.get("sign_in_method") != SIGN_IN_METHOD:
            return response
        try:
            endpoint = provider().end_session_endpoint
        except OidcMisconfigured:
            return response
        if endpoint:
            parts = urlsplit(endpoint)
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [
                *update.get("form-action", []),
                f"{parts.scheme}://{parts.netloc}",
            ]
            response._csp_update = update
        return response
