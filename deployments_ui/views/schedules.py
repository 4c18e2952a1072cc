"""Scheduled changes: the list, asking for one, moving and cancelling."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.core.errors import ActionRefused, ConsoleError
from deployments_ui.core.http import SignedInRequest
from deployments_ui.deployments import reads
from deployments_ui.forms.schedules import MoveForm, ScheduleForm, local_input
from deployments_ui.patchworks import PatchworksError
from deployments_ui.presenters import deployment_label, deployment_row, with_schedule_badges
from deployments_ui.schedules import services as schedules
from deployments_ui.schedules.models import ScheduledChange
from deployments_ui.schedules.services import ScheduleRefused
from deployments_ui.views.controls import control_context, controls_from
from deployments_ui.views.pages import (
    kept_bulk_choice,
    mark_fragment,
    needs_api_key,
    refusal,
    respond,
    safe_next,
)

RECENT = 50


@require_GET
def schedule_list(request: SignedInRequest) -> HttpResponse:
    """Upcoming changes, soonest first, and the most recently finished ones."""
    pending = list(
        ScheduledChange.objects.filter(
            status__in=[ScheduledChange.Status.PENDING, ScheduledChange.Status.APPLYING]
        ).order_by("due_at", "id")
    )
    recent = list(
        ScheduledChange.objects.exclude(
            status__in=[ScheduledChange.Status.PENDING, ScheduledChange.Status.APPLYING]
        ).order_by("-applied_at", "-id")[:RECENT]
    )
    for change in pending:
        change.may_manage = change.is_pending and schedules.may_manage(request.user, change)
    context = {
        "pending": pending,
        "recent": recent,
        "zone_name": str(timezone.get_current_timezone()),
    }
    return TemplateResponse(request, "schedules/schedule_list.html", context)


@require_http_methods(["GET", "POST"])
@needs_api_key
def deployment_schedule(
    request: SignedInRequest, flow_version: str, deployment: str
) -> HttpResponse:
    """GET the form; POST asks for the change (with htmx, answers with the row or panel)."""
    try:
        found = reads.deployment_get(
            user=request.user, flow_version_id=flow_version, deployment_id=deployment
        )
    except PatchworksError as error:
        if request.htmx and request.method == "POST":
            return _fragment_failure(request, deployment, error.message, error.http_status)
        context: dict[str, Any] = {"flow_version": flow_version, "deployment_id": deployment}
        return respond(request, "deployments_ui/upstream_error.html", context, error=error)
    detail_url = reverse("deployment-detail", args=(flow_version, deployment))
    next_url = safe_next(request, detail_url)
    initial = {"action": "enable" if not found.is_enabled else "disable"}
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            return _ask(request, form, found, next_url)
        if request.htmx:
            message = " ".join(str(text) for texts in form.errors.values() for text in texts)
            return refusal(ScheduleRefused(message))
    return _form_page(request, form, found, next_url)


def _form_page(request, form: ScheduleForm, found, next_url: str, refused=None) -> HttpResponse:
    """The schedule form, with a refusal beside the field it is about (the typed name, the
    reason) or above the form."""
    field = getattr(refused, "field", "") if refused else ""
    if refused is not None and field not in ("confirm_name",):
        form.add_error(field if field in form.fields else None, refused.message)
    context = {
        "deployment": found,
        "form": form,
        "next": next_url,
        "zone_name": form.zone_name(),
        "pending": schedules.pending_for(found.id),
        "refusal_link": _request_link(refused),
        **control_context(
            request.user, found, confirm_error=refused.message if field == "confirm_name" else ""
        ),
    }
    status = refused.http_status if refused else (400 if form.errors else 200)
    return TemplateResponse(request, "schedules/schedule_form.html", context, status=status)


def _request_link(refused) -> str:
    request = getattr(refused, "change_request", None)
    return reverse("change-detail", args=(request.pk,)) if request is not None else ""


def _ask(request, form: ScheduleForm, found, next_url: str) -> HttpResponse:
    data = form.cleaned_data
    try:
        asked = schedules.schedule_change(
            actor=Actor.from_request(request),
            user=request.user,
            deployment=found,
            action=data["action"],
            at=data["at"],
            until=data["until"],
            reason=data["reason"],
            time_zone=form.zone_name(),
            controls=controls_from(request),
        )
    except ActionRefused as refused:
        if request.htmx:
            return refusal(refused, link=_request_link(refused))
        return _form_page(request, form, found, next_url, refused)
    except ConsoleError as error:
        if request.htmx:
            return _fragment_failure(request, found.id, error.message, error.http_status)
        return _form_page(request, form, found, next_url, ScheduleRefused(error.message))
    return _answer(request, next_url, asked.changed_now or found, _asked_words(asked, found))


def _asked_words(asked, found) -> str:
    """What the person is told: the change scheduled, made now, or waiting for approval."""
    current = asked.changed_now or found
    words = "; ".join(schedules.change_words(change) for change in asked.changes)
    label = deployment_label(current)
    if asked.change_request is not None:
        return (
            f"{capfirst(label)} needs approval: change request {asked.change_request.pk} asks "
            f"for it now, and nothing is sent until it is approved. {words}."
        )
    if asked.changed_now is not None:
        return f"{capfirst(label)} is now disabled. {words}."
    return f"Scheduled for {label}: {words}."


def _answer(request, next_url: str, deployment, message: str) -> HttpResponse:
    """The row or panel with its new badge (and a toast) for htmx, else a message and redirect."""
    if not request.htmx:
        messages.success(request, message)
        return redirect(next_url)
    fragment = "panel" if request.POST.get("fragment") == "panel" else "row"
    row = with_schedule_badges([deployment_row(deployment)])[0]
    context = {
        "deployment": deployment,
        "row": row,
        "feedback": message,
        "feedback_level": "success",
        "next": next_url,
        "bulk_choosable": kept_bulk_choice(request),
    }
    response = TemplateResponse(request, f"deployments_ui/_deployment_{fragment}.html", context)
    toast = {"message": message, "level": "success"}
    return trigger_client_event(mark_fragment(response), "console:toast", toast)


def _fragment_failure(request, deployment_id: str, message: str, status: int) -> HttpResponse:
    response = TemplateResponse(
        request,
        "deployments_ui/_feedback.html",
        {"feedback": message, "feedback_level": "error"},
        status=status,
    )
    response["HX-Retarget"] = f"#feedback-{deployment_id}"
    response["HX-Reswap"] = "innerHTML"
    toast = {"message": message, "level": "error"}
    return trigger_client_event(mark_fragment(response), "console:toast", toast)


@require_POST
def schedule_cancel(request: SignedInRequest, change: int) -> HttpResponse:
    found = _change_or_404(change)
    next_url = safe_next(request, reverse("schedule-list"))
    try:
        cancelled = schedules.cancel_change(
            actor=Actor.from_request(request), user=request.user, change=found
        )
    except schedules.ScheduleRefused as refused:
        messages.error(request, refused.message)
        return redirect(next_url)
    except AuditUnavailable as error:
        messages.error(request, error.message)
        return redirect(next_url)
    what = gettext(" and ").join(
        (
            gettext("the enable due %(time)s")
            if item.action == "enable"
            else gettext("the disable due %(time)s")
        )
        % {"time": _moment(item.due_at)}
        for item in cancelled
    )
    words = {"name": found.label, "changes": what}
    messages.success(request, gettext("Cancelled %(changes)s for %(name)s.") % words)
    return redirect(next_url)


def _moment(value) -> str:
    """'30 Nov 2026, 18:00 GMT' ('30. November 2026, 18:00 GMT' in German)."""
    return date_format(timezone.localtime(value), gettext("j M Y, H:i T"))


@require_http_methods(["GET", "POST"])
def schedule_move(request: SignedInRequest, change: int) -> HttpResponse:
    found = _change_or_404(change)
    next_url = safe_next(request, reverse("schedule-list"))
    if not schedules.may_manage(request.user, found):
        messages.error(
            request,
            gettext(
                "Only the person who asked for this change, or an Editor, can move or cancel it."
            ),
        )
        return redirect(next_url)
    form = MoveForm(request.POST or None)
    if request.method == "GET":
        form = MoveForm(initial={"at": local_input(found.due_at, timezone.get_current_timezone())})
    if request.method == "POST" and form.is_valid():
        try:
            moved = schedules.move_change(
                actor=Actor.from_request(request),
                user=request.user,
                change=found,
                due_at=form.cleaned_data["at"],
            )
        except schedules.ScheduleRefused as refused:
            form.add_error(None, refused.message)
        except AuditUnavailable as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                (
                    gettext("Moved the enable of %(name)s to %(time)s.")
                    if moved.action == "enable"
                    else gettext("Moved the disable of %(name)s to %(time)s.")
                )
                % {"name": moved.label, "time": _moment(moved.due_at)},
            )
            return redirect(next_url)
    context = {"change": found, "form": form, "next": next_url, "zone_name": form.zone_name()}
    return TemplateResponse(
        request, "schedules/schedule_move.html", context, status=400 if form.errors else 200
    )


def _change_or_404(pk: int) -> ScheduledChange:
    try:
        return get_object_or_404(ScheduledChange, pk=pk)
    except (ValueError, TypeError):
        raise Http404("No such scheduled change") from None
