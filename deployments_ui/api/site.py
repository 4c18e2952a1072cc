"""The REST API's one instance: `/api/v1/`, its OpenAPI document at `/api/v1/openapi.json`."""

from __future__ import annotations

from ninja import NinjaAPI

from deployments_ui.api import audit, deployments, errors
from deployments_ui.api.auth import TokenAuth

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
