"""JSON responses and errors in Laravel's shape, the API-key check, and the view decorator."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.models import SandboxUser

INVALID = "The given data was invalid."
MAX_ID = 2**63 - 1  # larger ids cannot be stored, and SQLite refuses them even in a query

View = Callable[..., HttpResponse]


class SandboxRequest(HttpRequest):
    """A request to an `api_view(auth=True)` view: `sandbox_user` is the key's owner."""

    sandbox_user: SandboxUser


class ApiError(Exception):
    """An error answered as {"message": ...} (plus "errors" for validation failures)."""

    def __init__(
        self, status: int, message: str, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def response(self) -> JsonResponse:
        from sandbox import shapes  # shapes reads the models, which import this module's users

        if shapes.current() == shapes.JSONAPI:
            return JsonResponse(
                shapes.error_body(self.status, self.message, self.errors), status=self.status
            )
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return JsonResponse(body, status=self.status)


def validation_error(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(422, INVALID, errors)


def not_found(model: str, ident: object) -> ApiError:
    """Laravel's route-model-binding miss, naming the model as Patchworks would."""
    return ApiError(404, f"No query results for model [App\\Models\\{model}] {ident}")


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as {}."""
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def authenticate(request: HttpRequest) -> SandboxUser:
    """The user owning the raw key in the Authorization header (no "Bearer" prefix)."""
    key = request.headers.get("Authorization", "").strip()
    user = SandboxUser.objects.filter(api_key=key).first() if key else None
    if user is None:
        raise ApiError(401, "Unauthenticated.")
    return user


def method_not_allowed(request: HttpRequest, allowed: tuple[str, ...]) -> JsonResponse:
    route = request.path.lstrip("/")
    message = (
        f"The {request.method} method is not supported for route {route}. "
        f"Supported methods: {', '.join(allowed)}."
    )
    response = JsonResponse({"message": message}, status=405)
    response["Allow"] = ", ".join(allowed)
    return response


def api_view(*methods: str, auth: bool = True) -> Callable[[View], View]:
    """Route by method (405 otherwise), check the key, and turn ApiError into its JSON answer.

    The order follows Laravel: the route and method are matched before the key is checked.
    """

    def decorator(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return method_not_allowed(request, methods)
            try:
                if auth:
                    user = authenticate(request)
                    request.sandbox_user = user  # type: ignore[attr-defined]
                    if user.read_only and request.method != "GET":
                        raise ApiError(403, "This action is unauthorized.")
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error.response()

        return wrapper

    return decorator


def parse_id(raw: str, model: str) -> int:
    """A path id as an integer; anything else is a 404, as an unmatched binding would be."""
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise not_found(model, raw)
    return int(raw)


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"message": "Bad Request"}, status=400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"message": "This action is unauthorized."}, status=403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    route = request.path.lstrip("/")
    return JsonResponse({"message": f"The route {route} could not be found."}, status=404)


def handler500(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "Server Error"}, status=500)
