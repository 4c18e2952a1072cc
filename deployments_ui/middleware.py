"""Request ids, headers believed only from the trusted proxies, and the sessions' lifetime.

Only the trusted proxies (`CONSOLE_SSO_TRUSTED_PROXIES`) may set `X-Request-ID` and
`X-Forwarded-Proto`: from anyone else the first is replaced by a fresh id and the second is
dropped before Django reads it (`SECURE_PROXY_SSL_HEADER`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from typing import cast

from django.conf import settings
from django.contrib.auth import SESSION_KEY, user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware import locale
from django.utils import translation
from django.utils.cache import patch_cache_control

from deployments_ui.core.http import (
    ConsoleRequest,
    current_request,
    current_request_id,
    is_trusted_proxy,
)
from deployments_ui.core.words import without_empty_fallbacks

REQUEST_ID_HEADER = "X-Request-ID"
SIGNED_IN_AT = "signed_in_at"
_VALID_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class UntrustedForwardedProtoMiddleware:
    """Drop X-Forwarded-Proto from anyone but a trusted proxy, so that a client cannot make a
    plain-HTTP request pass for HTTPS. First in the list: SecurityMiddleware reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not is_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class RequestIdMiddleware:
    """Take a trusted proxy's X-Request-ID when it looks like one, otherwise make one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: ConsoleRequest) -> HttpResponse:
        # Imported here: the logging configuration imports this module before the apps load.
        trusted = is_trusted_proxy(request)
        incoming = request.headers.get(REQUEST_ID_HEADER, "") if trusted else ""
        request.id = incoming if _VALID_INCOMING_ID.match(incoming) else uuid.uuid4().hex
        token = current_request_id.set(request.id)
        request_token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(request_token)
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class SessionRenewalMiddleware:
    """Sign people out after `SESSION_COOKIE_AGE` idle, without a database write per request,
    and after `SESSION_MAX_AGE` whatever they do.

    Renewing the session at most every `SESSION_RENEW_SECONDS` keeps the idle timeout accurate to
    within that interval. Goes after SessionMiddleware, so it runs before the session is saved.
    Sessions from before the absolute age existed start counting when first seen.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY):
            now = int(time.time())
            signed_in_at = session.setdefault(SIGNED_IN_AT, now)
            if now - signed_in_at >= settings.SESSION_MAX_AGE:
                session.flush()
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():
            now = int(time.time())
            if now - session.get("renewed_at", 0) >= settings.SESSION_RENEW_SECONDS:
                session["renewed_at"] = now
        return response


class LocaleMiddleware(locale.LocaleMiddleware):
    """Django's choice of the reader's language, whose catalogue then finds English words
    without walking empty ones (`words.without_empty_fallbacks`)."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if settings.USE_I18N:
            without_empty_fallbacks(translation.get_language())


TIME_ZONE_COOKIE = "console_tz"


class TimeZoneMiddleware:
    """Show and read times in the person's own time zone: the one their browser reports
    (console.js keeps it in a cookie), else CONSOLE_TIME_ZONE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils import timezone

        from deployments_ui.core.vocabulary import zone_named

        zone = zone_named(request.COOKIES.get(TIME_ZONE_COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


@receiver(user_logged_in, dispatch_uid="deployments_ui.signed_in_at")
def _note_sign_in(sender, request: HttpRequest | None = None, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session[SIGNED_IN_AT] = int(time.time())


class SignedInNoStoreMiddleware:
    """`Cache-Control: no-store, private` on every response to a signed-in person.

    After signing out, the browser's Back button must not show pages (the audit log, say) from
    its cache. Goes after the SSO middleware, so a person signed in by it counts.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        signed_in = request.user.is_authenticated
        response = self.get_response(request)
        if signed_in or request.user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class ReadAheadMiddleware:
    """Enable and disable, and the list of deployments, start their upstream read as soon as the
    person is known: the access check and the view's own checks then run while it travels. The
    answer is used only once they pass (`writes.set_enabled`, `views.deployments`), and dropped
    when they refuse. Just before the access check; after CSRF's. The person's key is read once
    for the whole request (`keys_remembered`), read ahead or not."""

    CHANGES = frozenset({"deployment-enable", "deployment-disable"})
    LIST = "deployment-list"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from deployments_ui.accounts.credentials import keys_remembered

        with keys_remembered():
            return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        from deployments_ui.accounts.credentials import MissingApiKey

        match, user = request.resolver_match, request.user
        if match is None or not (user.is_authenticated and user.is_active):
            return
        with contextlib.suppress(MissingApiKey):
            if request.method == "POST" and match.url_name in self.CHANGES:
                _change_read_ahead(request, view_kwargs)
            elif request.method == "GET" and match.url_name == self.LIST:
                _list_read_ahead(cast(ConsoleRequest, request))


def _change_read_ahead(request: HttpRequest, view_kwargs) -> None:
    from deployments_ui.deployments import reads

    request.change_read = reads.change_read_started(  # type: ignore[attr-defined]
        user=request.user,
        flow_version_id=view_kwargs["flow_version"],
        deployment_id=view_kwargs["deployment"],
    )


def _list_read_ahead(request: ConsoleRequest) -> None:
    from deployments_ui.views import deployments

    request.list_started = deployments.list_started(request)  # type: ignore[attr-defined]
