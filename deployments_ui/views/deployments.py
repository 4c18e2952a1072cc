"""The pages that show deployments: the lists, one deployment, and the version picker."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from deployments_ui import audit, services
from deployments_ui.forms import DeploymentFilterForm
from deployments_ui.ids import is_patchworks_id
from deployments_ui.patchworks import PatchworksError
from deployments_ui.presenters import deployment_row, list_context, toggle_context
from deployments_ui.views.upstream import (
    deployment_page,
    error_status,
    needs_api_key,
)


@require_GET
@vary_on_headers("HX-Request")
@needs_api_key
def deployment_list(request: HttpRequest) -> HttpResponse:
    pickers, error = _pickers(request)
    form = DeploymentFilterForm(request.GET, pickers=pickers)
    form.is_valid()
    page = None
    if error is None:
        try:
            page = services.deployment_list(user=request.user, query=form.to_query())
        except PatchworksError as failure:
            error = failure
    context = list_context(request, form=form, page=page, error=error)
    template = "deployments_ui/deployment_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#deployment-table"
    return TemplateResponse(request, template, context, status=_page_status(error))


@require_GET
@vary_on_headers("HX-Request")
@needs_api_key
def flow_version_deployment_list(request: HttpRequest, flow_version: str) -> HttpResponse:
    form = DeploymentFilterForm(request.GET, pickers=None)
    form.is_valid()
    query = form.to_query()
    page, error = None, None
    try:
        page = services.flow_version_deployment_list(
            user=request.user,
            flow_version_id=flow_version,
            page=query.page,
            per_page=query.per_page,
        )
    except PatchworksError as failure:
        error = failure
    context = list_context(request, form=form, page=page, error=error, flow_version=flow_version)
    template = "deployments_ui/flow_version_deployment_list.html"
    if request.htmx and not request.htmx.boosted:
        template = "deployments_ui/deployment_list.html#deployment-table"
    return TemplateResponse(request, template, context, status=_page_status(error))


def _pickers(request: HttpRequest):
    try:
        return services.pickers_get(user=request.user), None
    except PatchworksError as failure:
        return None, failure


def _page_status(error: PatchworksError | None) -> int:
    return 200 if error is None else error_status(error)


@require_GET
@needs_api_key
def picker_flow_versions(request: HttpRequest) -> HttpResponse:
    """A flow's versions to start a new deployment from: options for htmx, a page otherwise."""
    flow_id = request.GET.get("flow", "")
    version_id = request.GET.get("flow_version", "")
    if version_id and not request.htmx:
        if not is_patchworks_id(version_id):
            raise Http404("No such flow version")
        return redirect("deployment-create", flow_version=version_id)
    versions, error = [], None
    if flow_id:
        try:
            versions = services.flow_versions_get(user=request.user, flow_id=flow_id)
        except PatchworksError as failure:
            error = failure
    context = {"versions": versions, "error": error, "flow_id": flow_id}
    template = "deployments_ui/picker_flow_versions.html"
    if request.htmx:
        template += "#version-options"
    return TemplateResponse(request, template, context)


# One deployment


@require_GET
@needs_api_key
def deployment_detail(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    return deployment_page(
        request,
        flow_version,
        deployment,
        "deployments_ui/deployment_detail.html",
        lambda found: {
            "history": audit.deployment_history(
                deployment, personal=request.user.has_perm("deployments_ui.view_all_audit")
            ),
            "row": deployment_row(found),
            **toggle_context(),
        },
    )
