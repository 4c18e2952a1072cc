"""Request ids on every response and log line, and the sessions' idle timeout."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from deployments_ui.http import ConsoleRequest

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdMiddleware:
    """Take the proxy's X-Request-ID when it looks like one, otherwise make one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: ConsoleRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.id = incoming if _VALID_INCOMING_ID.match(incoming) else uuid.uuid4().hex
        token = current_request_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class SessionRenewalMiddleware:
    """Sign people out after `SESSION_COOKIE_AGE` idle, without a database write per request.

    Renewing the session at most every `SESSION_RENEW_SECONDS` keeps the idle timeout accurate to
    within that interval. Goes after SessionMiddleware, so it runs before the session is saved.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():
            now = int(time.time())
            if now - session.get("renewed_at", 0) >= settings.SESSION_RENEW_SECONDS:
                session["renewed_at"] = now
        return response


TIME_ZONE_COOKIE = "console_tz"


class TimeZoneMiddleware:
    """Show and read times in the person's own time zone: the one their browser reports
    (console.js keeps it in a cookie), else CONSOLE_TIME_ZONE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils import timezone

        from deployments_ui.schedules.services import zone_named

        zone = zone_named(request.COOKIES.get(TIME_ZONE_COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
