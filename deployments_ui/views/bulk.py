"""Bulk enable and disable: the preview, the jobs list, a job's live progress, cancel, retry."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.bulk import running
from deployments_ui.bulk import services as bulk
from deployments_ui.bulk.models import BulkItem, BulkJob
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.http import SignedInRequest
from deployments_ui.core.vocabulary import deployment_count
from deployments_ui.deployments import reads
from deployments_ui.forms.deployments import (
    LIST_FILTER_PARAMETERS,
    DeploymentFilterForm,
    ToggleForm,
)
from deployments_ui.patchworks import PatchworksError
from deployments_ui.views.pages import needs_api_key

JOBS_SHOWN = 100
# The list's filter parameters, carried from the list to the preview and on to the job.


@require_POST
@needs_api_key
def deployment_bulk(request: SignedInRequest) -> HttpResponse:
    """Without `confirmed=1`: the preview. With it: start the job and go to its page."""
    action = request.POST.get("action", "")
    form = ToggleForm(request.POST)
    filter_pairs = _filter_pairs(request)
    filter_query = urlencode(filter_pairs)
    context = {
        "action": action,
        "wanted_enabled": action == "enable",
        "filter_pairs": filter_pairs,
        "form": form,
        "filter_query": filter_query,
        "back_url": f"/deployments/?{filter_query}" if filter_query else "/deployments/",
        "cap": bulk.cap(),
    }
    try:
        preview = _preview(request, action)
    except bulk.BulkRefused as refused:
        return _page(request, {**context, "refused": refused.message}, status=400)
    except PatchworksError as error:
        return _page(request, {**context, "error": error}, status=error.http_status)
    context["preview"] = preview
    if request.POST.get("confirmed") != "1":
        return _page(request, context)
    if not form.is_valid():
        return _page(request, context, status=400)
    selection = "every deployment matching a filter" if request.POST.get("select_all") else ""
    try:
        job = bulk.start_job(
            actor=Actor.from_request(request),
            user=request.user,
            preview=preview,
            reason=form.cleaned_data["reason"],
            selection=selection or f"{deployment_count(len(preview.selected))}, chosen",
            typed_names=[name[:255] for name in request.POST.getlist("confirm_name")],
        )
    except bulk.BulkRefused as refused:
        return _page(request, {**context, "start_refused": refused.message}, status=400)
    except AuditUnavailable as error:
        return _page(request, {**context, "refused": error.message}, status=error.http_status)
    return _see_job(job.pk)


def _see_job(job_id: int) -> HttpResponse:
    """303 See Other: after a POST, the browser GETs the job's page."""
    response = HttpResponseRedirect(reverse("job-detail", kwargs={"job": job_id}))
    response.status_code = 303
    return response


def _preview(request: SignedInRequest, action: str) -> bulk.Preview:
    filter_form = DeploymentFilterForm(request.POST, pickers=_pickers(request))
    filter_form.is_valid()
    query = filter_form.to_query()
    if request.POST.get("select_all") == "1":
        return bulk.preview_filter(
            user=request.user, action=action, filters=query.filters, sort=query.sort
        )
    pairs = bulk.parse_ids(request.POST.getlist("deployment"))
    return bulk.preview_ids(
        user=request.user, action=action, pairs=pairs, filters=query.filters or None
    )


def _pickers(request: SignedInRequest):
    try:
        return reads.pickers_get(user=request.user)
    except PatchworksError:
        return None


def _filter_pairs(request: SignedInRequest) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name in LIST_FILTER_PARAMETERS
        for value in request.POST.getlist(name)
        if value and len(value) <= 200
    ]


def _page(request: SignedInRequest, context: dict, status: int = 200) -> HttpResponse:
    return TemplateResponse(request, "bulk/bulk_preview.html", context, status=status)


# Jobs


@require_GET
def job_list(request: SignedInRequest) -> HttpResponse:
    newest = BulkJob.objects.order_by("-created_at", "-id")[:JOBS_SHOWN]
    jobs = [(job, bulk.progress(job)) for job in newest]
    return TemplateResponse(request, "bulk/job_list.html", {"jobs": jobs})


@require_GET
@vary_on_headers("HX-Request")
def job_detail(request: SignedInRequest, job: int) -> HttpResponse:
    found = get_object_or_404(BulkJob.objects.select_related("retry_of"), pk=job)
    items = list(found.items.all())
    context = {
        "job": found,
        "items": items,
        "progress": bulk.progress(found),
        "pause": running.pause_of(found),
        "may_manage": bulk.may_manage(request.user, found),
        "retryable": sum(1 for item in items if item.status in bulk.RETRYABLE),
        "item_status": BulkItem.Status,
        "retries": list(found.retries.order_by("id")),
        "undo_action": "enable" if found.action == BulkJob.Action.DISABLE else "disable",
        "undo_ids": [
            f"{item.flow_version_id}:{item.deployment_id}"
            for item in items
            if item.status == BulkItem.Status.DONE
        ],
        "waiting_request": found.change_requests.filter(
            status__in=ChangeRequest.OPEN_STATUSES
        ).first(),
    }
    template = "bulk/job_detail.html"
    if request.htmx and not request.htmx.boosted:
        template += "#job-progress"
    return TemplateResponse(request, template, context)


@require_POST
def job_cancel(request: SignedInRequest, job: int) -> HttpResponse:
    found = get_object_or_404(BulkJob, pk=job)
    try:
        stopped = bulk.cancel_job(actor=Actor.from_request(request), user=request.user, job=found)
    except bulk.BulkRefused as refused:
        messages.error(request, refused.message)
        return _see_job(found.pk)
    messages.success(
        request,
        gettext("Cancelled: %(count)s not yet sent will not be sent.") % {"count": stopped}
        if stopped
        else gettext("Cancelled: the worker stops before its next item."),
    )
    return _see_job(found.pk)


@require_POST
def job_retry(request: SignedInRequest, job: int) -> HttpResponse:
    found = get_object_or_404(BulkJob, pk=job)
    try:
        new = bulk.retry_job(actor=Actor.from_request(request), user=request.user, job=found)
    except bulk.BulkRefused as refused:
        messages.error(request, refused.message)
        return _see_job(found.pk)
    except AuditUnavailable as error:
        messages.error(request, error.message)
        return _see_job(found.pk)
    messages.success(request, gettext("Started a new job with the failed ones of this job."))
    return _see_job(new.pk)
