"""Every failure as JSON: a plain `message`, and `field_errors` when it is about the input."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.api.auth import NotPermitted, TooManyRequests
from deployments_ui.core.errors import ConsoleError
from deployments_ui.patchworks import RateLimited

UNREADABLE_INPUT = "Some of what was sent is not right: see field_errors."
UNPARSABLE = 'The body is not valid JSON: send an object such as {"reason": "…"}.'


def problem(message: str, field_errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"message": message, "field_errors": field_errors or {}}


def field_errors_of(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Pydantic's errors by field name ('body' and 'query' left out of the name)."""
    fields: dict[str, list[str]] = {}
    for error in errors:
        where = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
        name = where[-1] if where else "request"
        if name == "payload":
            name = "request"
        fields.setdefault(name, []).append(_plain(error))
    return fields


def _plain(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "missing":
        return "This field is required."
    if kind == "json_invalid":
        return "The body is not valid JSON."
    return str(error.get("msg", "Not valid.")).removeprefix("Value error, ")


def install(api: NinjaAPI) -> None:
    """Register the handlers on the API."""

    def respond(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
        return api.create_response(request, body, status=status)

    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return respond(request, 400, problem(UNREADABLE_INPUT, field_errors_of(exc.errors)))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = (
            "Send a personal API token as 'Authorization: Bearer <token>'. This one is missing, "
            "unknown, expired or revoked, or its person can no longer sign in."
        )
        response = respond(request, 401, problem(message))
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(TooManyRequests)
    def too_many(request: HttpRequest, exc: TooManyRequests) -> HttpResponse:
        message = (
            f"This token made too many requests this minute. Try again in {exc.retry_after} s."
        )
        response = respond(request, 429, problem(message))
        response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(NotPermitted)
    def not_permitted(request: HttpRequest, exc: NotPermitted) -> HttpResponse:
        return respond(request, 403, problem(exc.message))

    @api.exception_handler(MissingApiKey)
    def no_key(request: HttpRequest, exc: MissingApiKey) -> HttpResponse:
        message = (
            "The token's person has no Patchworks API key saved in the console: save one on "
            "the My API key page."
        )
        return respond(request, 403, problem(message))

    @api.exception_handler(ConsoleError)
    def refused(request: HttpRequest, exc: ConsoleError) -> HttpResponse:
        field = str(getattr(exc, "field", "") or "")
        # Patchworks' 429, or the console's budget spent (people first): come back later.
        status = 429 if isinstance(exc, RateLimited) else exc.http_status
        response = respond(request, status, problem(exc.message, _one(field, exc)))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(max(1, int(retry_after)))
        return response

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(request, 404, problem(str(exc) or "Not found."))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400:  # the only one the library raises: a body it cannot parse
            return respond(request, 400, problem(UNPARSABLE, {"request": [UNPARSABLE]}))
        return respond(request, exc.status_code, problem(exc.message))


def _one(field: str, exc: ConsoleError) -> dict[str, list[str]]:
    return {field: [exc.message]} if field else {}
