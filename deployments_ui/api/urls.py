"""The REST API's URL patterns, loaded on first use (console/urls.py says why)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern

from deployments_ui.api.errors import problem
from deployments_ui.api.site import api


def _json_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A method the route does not take answers in JSON like every other failure (the library
    answers it in plain text)."""

    @wraps(view)
    def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = response["Allow"]
        message = f"This address takes {allowed.replace(', ', ' or ')} requests only."
        refused = JsonResponse(problem(message), status=405)
        refused["Allow"] = allowed
        return refused

    return answer


urlpatterns, app_name, _ = api.urls
for pattern in urlpatterns:
    if isinstance(pattern, URLPattern):
        pattern.callback = _json_not_allowed(pattern.callback)
