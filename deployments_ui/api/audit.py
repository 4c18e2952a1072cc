"""The audit trail through the API: the log with the audit page's filters, and one event."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema

from deployments_ui.accounts.access import sees_everything
from deployments_ui.api.auth import caller
from deployments_ui.api.presenting import entry_out, invalid_form
from deployments_ui.api.schemas import AuditEventOut, AuditPage, Problem
from deployments_ui.audit import AuditUnavailable
from deployments_ui.audit.entries import entry_from_event
from deployments_ui.audit.filters import filtered_events
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.forms.audit import AuditFilterForm

router = Router(tags=["audit"])
PER_PAGE = 50
UNREADABLE = "The audit log cannot be read just now. Try again in a minute."
REFUSALS: dict[int | str, Any] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    429: Problem,
    503: Problem,
}


class AuditFilters(Schema):
    """The audit page's filters (`before` with `hours`: what changed in the hours before)."""

    person: str = ""
    action: str = ""
    outcome: str = ""
    source: str = ""
    deployment: str = ""
    flow: str = ""
    environment: str = ""
    date_from: str = ""
    date_to: str = ""
    before: str = ""
    hours: int | None = None
    page: int = 1


@router.get("/audit", response={200: AuditPage, **REFUSALS}, url_name="audit-log")
def audit_log(request: HttpRequest, filters: Query[AuditFilters]) -> Any:
    """Events, newest first, as the audit page lists them."""
    _, user = caller(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        raise invalid_form(form)
    everything = sees_everything(user)
    try:
        events = filtered_events(form.filters(), accounts=everything)
        page = Paginator(events, PER_PAGE).get_page(filters.page)
        items = [
            entry_out(request, entry_from_event(event, personal=everything))
            for event in page.object_list
        ]
    except DatabaseError:
        raise AuditUnavailable(UNREADABLE) from None
    return {
        "items": items,
        "page": page.number,
        "last_page": page.paginator.num_pages,
        "total": page.paginator.count,
    }


@router.get("/audit/{event}", response={200: AuditEventOut, **REFUSALS}, url_name="audit-event")
def audit_event(request: HttpRequest, event: int) -> Any:
    """One event (its attempt and outcome together), with every recorded detail."""
    _, user = caller(request)
    found = AuditEvent.objects.select_related("completes").filter(pk=event).first()
    found = (found.completes or found) if found is not None else None
    everything = sees_everything(user)
    if found is None or (found.action in ACCOUNT_ACTIONS and not everything):
        raise Http404("No such audit event.")
    entry = entry_from_event(found, personal=everything)
    return {**entry_out(request, entry), "details": dict(entry.details)}
