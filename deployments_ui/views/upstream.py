"""What every deployment view shares: the key check and how upstream failures are shown."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from deployments_ui import services
from deployments_ui.http import ConsoleRequest
from deployments_ui.patchworks import Deployment, PatchworksError
from deployments_ui.services import MissingApiKey

AUDIT_DOWN = "The console could not record this action in the audit log, so it was not sent."
ERROR_STATUS = {401: 403, 403: 403, 404: 404, 422: 422, 429: 429}


def needs_api_key(view):
    """Send people without a saved Patchworks key to the page where they can add one."""

    @functools.wraps(view)
    def wrapper(request: ConsoleRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except MissingApiKey:
            messages.info(
                request,
                "To see and change deployments, the console needs your Patchworks API key. "
                "Add it below; it is stored encrypted and never shown again.",
            )
            if request.htmx:
                return HttpResponseClientRedirect(reverse("api-key"))
            return redirect("api-key")

    return wrapper


def error_status(error: PatchworksError) -> int:
    return ERROR_STATUS.get(error.status or 0, 504 if error.outcome_unknown else 502)


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def deployment_page(
    request: HttpRequest,
    flow_version: str,
    deployment: str,
    template: str,
    context_for: Callable[[Deployment], dict] = lambda found: {},
) -> HttpResponse:
    """Read one deployment and show it in `template`, or show why Patchworks could not say."""
    try:
        found = services.deployment_get(
            user=request.user, flow_version_id=flow_version, deployment_id=deployment
        )
    except PatchworksError as error:
        return error_page(request, error, flow_version, deployment)
    return TemplateResponse(request, template, {"deployment": found, **context_for(found)})


# Lists


def error_page(request, error: PatchworksError, flow_version: str, deployment: str = ""):
    context = {"error": error, "flow_version": flow_version, "deployment_id": deployment}
    return TemplateResponse(
        request, "deployments_ui/upstream_error.html", context, status=error_status(error)
    )
