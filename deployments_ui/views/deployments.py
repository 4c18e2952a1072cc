"""The pages that show deployments: the lists, one deployment, and the version picker."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from deployments_ui import audit
from deployments_ui.accounts import access
from deployments_ui.core.http import ConsoleRequest
from deployments_ui.core.ids import is_patchworks_id
from deployments_ui.deployments import reads
from deployments_ui.forms.deployments import DeploymentFilterForm
from deployments_ui.patchworks import PatchworksError
from deployments_ui.presenters import (
    console_enabler,
    deployment_row,
    health_context,
    list_context,
    toggle_context,
    with_schedule_badges,
)
from deployments_ui.views.pages import (
    buttons_at,
    compressed,
    needs_api_key,
    respond,
    shows_errors,
    wants_fragment,
)

LIST_TABLE = "deployments_ui/deployment_list.html#deployment-table"


@dataclass(frozen=True)
class ListStarted:
    """The list's filters, and its read on its way (None when the pickers could not be read)."""

    form: DeploymentFilterForm
    reading: reads.ListReading | None
    error: PatchworksError | None


def list_started(request: ConsoleRequest) -> ListStarted:
    """Read the filters and send the list's read: from the view, or earlier, before the access
    check (`middleware.ReadAheadMiddleware`), so that the check runs while the read travels."""
    try:
        pickers, error = reads.pickers_get(user=request.user), None
    except PatchworksError as failure:
        pickers, error = None, failure
    form = DeploymentFilterForm(request.GET, pickers=pickers)
    form.is_valid()
    reading = None
    if error is None:
        reading = reads.deployment_list_reading(user=request.user, query=form.to_query())
    return ListStarted(form, reading, error)


@require_GET
@vary_on_headers("HX-Request")
@needs_api_key
def deployment_list(request: ConsoleRequest) -> HttpResponse:
    started = getattr(request, "list_started", None) or list_started(request)
    template = "deployments_ui/deployment_list.html"
    return _list_page(request, template, started.form, started.reading, started.error)


@require_GET
@vary_on_headers("HX-Request")
@needs_api_key
def flow_version_deployment_list(request: ConsoleRequest, flow_version: str) -> HttpResponse:
    form = DeploymentFilterForm(request.GET, pickers=None)
    form.is_valid()
    query = form.to_query()
    reading = reads.flow_version_list_reading(
        user=request.user, flow_version_id=flow_version, page=query.page, per_page=query.per_page
    )
    template = "deployments_ui/flow_version_deployment_list.html"
    return _list_page(request, template, form, reading, flow_version=flow_version)


def _list_page(request, template, form, reading, error=None, flow_version="") -> HttpResponse:
    """The list, rendered while Patchworks' answer travels from the last answer to the same
    read, and shown if the answer is the same; rendered again from the answer otherwise."""

    def rendered(page=None, board=None, error=None) -> HttpResponse:
        context = list_context(
            request, form=form, page=page, flow_version=flow_version, board=board
        )
        response = respond(request, template, context, fragment=LIST_TABLE, error=error)
        return response.render()

    if reading is None:
        return rendered(error=error)
    guess = reading.guessed()
    prepared = compressed(request, rendered(*guess)) if guess else None
    try:
        page, board = reading.result()
    except PatchworksError as failure:
        return rendered(error=failure)
    if prepared is not None and reading.as_guessed:
        return prepared
    return rendered(page, board)


@require_GET
@needs_api_key
def picker_flow_versions(request: ConsoleRequest) -> HttpResponse:
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
            versions = reads.flow_versions_get(user=request.user, flow_id=flow_id)
        except PatchworksError as failure:
            error = failure
    context = {"versions": versions, "error": error, "flow_id": flow_id}
    template = "deployments_ui/picker_flow_versions.html"
    if wants_fragment(request):
        template += "#version-options"
    # The options say when versions could not be loaded; the picker stays usable.
    return TemplateResponse(request, template, context)


# One deployment


@require_GET
@needs_api_key
@shows_errors
def deployment_detail(request: ConsoleRequest, flow_version: str, deployment: str) -> HttpResponse:
    history = audit.deployment_history(deployment, personal=access.sees_everything(request.user))
    try:
        found = reads.deployment_get(
            user=request.user, flow_version_id=flow_version, deployment_id=deployment
        )
    except PatchworksError as error:
        # Patchworks cannot say how the deployment is now; the trail still says what happened.
        context = {"flow_version": flow_version, "history": history, "here": True}
        return respond(request, "deployments_ui/upstream_error.html", context, error=error)
    row = with_schedule_badges([deployment_row(found)])[0]
    context = {
        "deployment": found,
        "history": history,
        "row": row,
        "console_enabler": console_enabler(found, history),
        **health_context(request, reads.deployment_runs(user=request.user, deployment=found), row),
        **toggle_context(),
        **buttons_at(request.user, found),
    }
    return TemplateResponse(request, "deployments_ui/deployment_detail.html", context)
