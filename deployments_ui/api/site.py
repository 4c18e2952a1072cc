"""The REST API's one instance: `/api/v1/`, its OpenAPI document at `/api/v1/openapi.json`."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Router

from deployments_ui.api import audit, deployments, errors
from deployments_ui.api.auth import TokenAuth

fallback = Router()


@fallback.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False
)
def unknown_route(request: HttpRequest, rest: str) -> None:
    """Anything else under /api/v1/ is a JSON 404, like every other failure."""
    raise Http404("There is no such route: the routes are listed in /api/v1/openapi.json.")


api = NinjaAPI(
    title="Deployments Console API",
    version="1",
    description=(
        "Scripts go through the console like a click: every change passes change control and "
        "is recorded, attributed to the person and the name of their personal API token."
    ),
    urls_namespace="api",
    auth=TokenAuth(),
    docs_url=None,
)
errors.install(api)
api.add_router("/", deployments.router)
api.add_router("/", audit.router)
api.add_router("/", fallback)  # last: it matches any path
