"""Sign-in with OpenID Connect: the start (off to the provider) and the way back.

Whatever goes wrong (the provider is unreachable or misconfigured, refuses, answers with a
token that does not check out), the person sees a plain page saying so and how to go on.
"""

from __future__ import annotations

import logging

import jwt
from django.contrib.auth import logout as auth_logout
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from deployments_ui import audit
from deployments_ui.accounts import oidc

logger = logging.getLogger(__name__)
TEMPLATE = "registration/oidc_error.html"
# Errors the provider may send back (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6).
PROVIDER_ERRORS = {
    "access_denied": "{name} did not let you into the console. If you should have access, ask "
    "the people who run single sign-on to give it to you.",
    "login_required": "Your sign-in at {name} has ended. Sign in again.",
    "interaction_required": "{name} needs you to sign in again.",
    "consent_required": "{name} needs you to agree to let the console see who you are.",
}
GENERAL = (
    "{name} did not sign you in. Try again; if it keeps happening, tell the people who run "
    "the console."
)


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    context = {"message": message, "provider_name": oidc.provider_name()}
    return render(request, TEMPLATE, context, status=status)


def _misconfigured(request: HttpRequest, problem: oidc.OidcMisconfigured) -> HttpResponse:
    logger.error("OpenID Connect is misconfigured: %s", problem)
    message = (
        f"Signing in with {oidc.provider_name()} is not working at the moment: the console "
        f"cannot use the identity provider as it is set up. {problem} Tell the people who run "
        "the console."
    )
    return _error(request, message, 503)


class StartView(OIDCAuthenticationRequestView):
    """Off to the provider, with state, nonce and a PKCE challenge kept in the session."""

    def __init__(self, **kwargs) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)
        self.OIDC_RP_CLIENT_ID = oidc.settings.OIDC_RP_CLIENT_ID
        self.OIDC_OP_AUTH_ENDPOINT = ""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            return _error(request, "Signing in with OpenID Connect is not switched on.", 404)
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.provider().authorization_endpoint
        except oidc.OidcMisconfigured as problem:
            return _misconfigured(request, problem)
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """Back from the provider: the code is exchanged, the person signed in or told why not."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            return _error(request, "Signing in with OpenID Connect is not switched on.", 404)
        try:
            return super().get(request)
        except oidc.OidcMisconfigured as problem:
            return _misconfigured(request, problem)
        except audit.AuditUnavailable:
            logger.exception("Could not record an OpenID Connect sign-in")
            message = "The console cannot sign anyone in just now. Try again in a few minutes."
            return self._failed(message, 503)
        except (OSError, SuspiciousOperation, jwt.PyJWTError, ValueError):
            # The token exchange failed (a wrong client secret, say: requests' errors are
            # OSErrors) or the token did not check out.
            logger.warning("An OpenID Connect sign-in failed", exc_info=True)
            return self._failed(GENERAL.format(name=oidc.provider_name()), 502)

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        self.request.session["sign_in_method"] = oidc.SIGN_IN_METHOD
        self.request.session["sso_identity"] = self.request.session.get("oidc_identity", "")
        return response

    def login_failure(self) -> HttpResponse:
        refusal = getattr(self.request, oidc.REFUSAL, None)
        if isinstance(refusal, oidc.Refusal):
            return self._failed(refusal.message, refusal.status)
        error = self.request.GET.get("error", "")
        template = PROVIDER_ERRORS.get(error, GENERAL)
        return self._failed(template.format(name=oidc.provider_name()), 403 if error else 400)

    def _failed(self, message: str, status: int) -> HttpResponse:
        if self.request.user.is_authenticated:
            auth_logout(self.request)
        return _error(self.request, message, status)


start = never_cache(StartView.as_view())
callback = never_cache(CallbackView.as_view())
