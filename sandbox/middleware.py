"""Request logging and fault injection for /api/ paths (never for the /__sandbox__/ controls)."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from sandbox import faults, loading
from sandbox.models import RequestLogEntry, SandboxUser

GetResponse = Callable[[HttpRequest], HttpResponse]

ERROR_MESSAGES = {500: "Server Error"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def key_user_name(request: HttpRequest) -> str:
    """Who the request's key belongs to ("" for none); the API views have already looked."""
    user = getattr(request, "sandbox_user", None)
    if user is not None:
        return user.name
    key = request.headers.get("Authorization", "").strip()
    if not key:
        return ""
    return SandboxUser.objects.filter(api_key=key).values_list("name", flat=True).first() or ""


class RequestLogMiddleware:
    """Log each /api/ request: written on arrival, so that a request still hanging when a test
    clears the log does not reappear in it; completed with its user and status once answered."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        started = time.perf_counter()
        entry = RequestLogEntry.objects.create(
            method=request.method or "",
            path=request.path[:500],
            query_string=request.META.get("QUERY_STRING", ""),
        )
        writes = request.method not in SAFE_METHODS
        if writes:
            loading.write_started()
        try:
            response = self.get_response(request)
        finally:
            if writes:
                loading.write_finished()
        RequestLogEntry.objects.filter(pk=entry.pk).update(
            status=response.status_code,
            user_name=key_user_name(request),
            fault=getattr(request, "sandbox_fault", ""),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response


class FaultMiddleware:
    """Apply the X-Sandbox-Fault header's fault, or else the stored one, to /api/ requests."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        try:
            spec = self._fault_for(request)
        except faults.FaultError as error:
            return JsonResponse({"message": f"Invalid X-Sandbox-Fault header: {error}"}, status=400)
        if spec is None:
            return self.get_response(request)
        request.sandbox_fault = spec.label()  # type: ignore[attr-defined]
        time.sleep(spec.delay_seconds())
        fires = spec.fires()
        if fires and spec.retry_after is not None:
            return too_many_attempts(spec.retry_after)
        if fires and spec.error_status:
            return server_error(spec.error_status)
        response = self.get_response(request)
        if fires and spec.malformed:
            return truncated(response)
        return response

    @staticmethod
    def _fault_for(request: HttpRequest) -> faults.FaultSpec | None:
        """The fault for this request, if any; a counted stored fault spends one use here."""
        header = request.headers.get("X-Sandbox-Fault")
        if header is not None:
            asked = faults.parse_header(header)
            return asked if asked.applies_to(request.method or "", request.path) else None
        spec = faults.stored_fault()
        if spec is None or not spec.applies_to(request.method or "", request.path):
            return None
        return spec if faults.take_one(spec) else None


def too_many_attempts(retry_after: int) -> JsonResponse:
    """Laravel's throttle answer, with its rate-limit headers."""
    response = JsonResponse({"message": "Too Many Attempts."}, status=429)
    response["Retry-After"] = str(retry_after)
    response["X-RateLimit-Limit"] = "240"
    response["X-RateLimit-Remaining"] = "0"
    return response


def server_error(status: int) -> JsonResponse:
    try:
        phrase = ERROR_MESSAGES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return JsonResponse({"message": phrase}, status=status)


def truncated(response: HttpResponse) -> HttpResponse:
    """A 200 whose JSON body stops halfway: no proper prefix of a JSON object parses."""
    body = response.content
    cut = body[: max(1, len(body) // 2)] if body else b'{"data": ['
    return HttpResponse(cut, status=200, content_type="application/json")
