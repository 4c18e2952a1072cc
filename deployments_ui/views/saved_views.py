"""Save, rename and delete saved views: plain form posts that redirect back to the page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from deployments_ui.audit import Actor
from deployments_ui.core.http import SignedInRequest
from deployments_ui.saved_views import services
from deployments_ui.saved_views.models import SavedView


@require_POST
def saved_view_create(request: SignedInRequest) -> HttpResponse:
    page = request.POST.get("page", "")
    query = request.POST.get("query", "")
    try:
        view = services.saved_view_create(
            owner=request.user,
            actor=Actor.from_request(request),
            name=request.POST.get("name", ""),
            page=page,
            query=query,
            shared=bool(request.POST.get("shared")),
        )
    except services.SavedViewInvalid as invalid:
        messages.error(request, gettext("The view was not saved. %(why)s") % {"why": invalid})
        return redirect(_back_to_page(page, query))
    if view.shared:
        saved = gettext("Saved the view “%(name)s”: everyone can open it.")
    else:
        saved = gettext("Saved the view “%(name)s”: only you can see it.")
    messages.success(request, saved % {"name": view.name})
    return redirect(services.saved_view_url(view))


@require_POST
def saved_view_rename(request: SignedInRequest, view: int) -> HttpResponse:
    try:
        renamed = services.saved_view_rename(
            owner=request.user,
            actor=Actor.from_request(request),
            view_id=view,
            name=request.POST.get("name", ""),
        )
    except SavedView.DoesNotExist:
        return _not_yours(request, view)
    except services.SavedViewInvalid as invalid:
        messages.error(request, gettext("The view was not renamed. %(why)s") % {"why": invalid})
        return redirect(_next_or_page(request, view))
    messages.success(request, gettext("Renamed the view to “%(name)s”.") % {"name": renamed.name})
    return redirect(_next_or_page(request, view))


@require_POST
def saved_view_delete(request: SignedInRequest, view: int) -> HttpResponse:
    try:
        deleted = services.saved_view_delete(
            owner=request.user, actor=Actor.from_request(request), view_id=view
        )
    except SavedView.DoesNotExist:
        return _not_yours(request, view)
    messages.success(request, gettext("Deleted the view “%(name)s”.") % {"name": deleted.name})
    return redirect(_next_or_page(request, view, page=deleted.page))


def _not_yours(request: HttpRequest, view_id: int) -> HttpResponse:
    # A view shared by someone else is visible, so say why; anything else is simply not there.
    if SavedView.objects.filter(pk=view_id, shared=True).exists():
        return HttpResponseForbidden(
            "Only the person who saved this view can rename or delete it.",
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponseNotFound("There is no such saved view.", content_type="text/plain")


def _back_to_page(page: str, query: str) -> str:
    """The page the form came from, with its filters when they are valid ones."""
    if page not in services.PAGE_URL_NAMES:
        page = SavedView.Page.DEPLOYMENTS
    try:
        cleaned = services.clean_query(page, query)
    except services.SavedViewInvalid:
        cleaned = ""
    return services.saved_view_url(SavedView(page=page, query=cleaned))


def _next_or_page(request: HttpRequest, view_id: int, page: str | None = None) -> str:
    """Back where the person was (a path on this site only), else the view's page."""
    wanted = request.POST.get("next", "")
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    if page is None:
        page = (
            SavedView.objects.filter(pk=view_id).values_list("page", flat=True).first()
            or SavedView.Page.DEPLOYMENTS
        )
    return services.saved_view_url(SavedView(page=page))
