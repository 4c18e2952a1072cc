"""One audit event on a page of its own (`/audit/<id>/`), and undoing the change it records."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from deployments_ui.accounts.access import may_act, sees_everything
from deployments_ui.audit import Actor
from deployments_ui.audit.entries import entry_from_event
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.audit.wording import SETTINGS_ACTIONS
from deployments_ui.changes.gate import ApprovalNeeded
from deployments_ui.core.errors import ActionRefused, ConsoleError
from deployments_ui.core.http import SignedInRequest
from deployments_ui.deployments import undo
from deployments_ui.flow_health import summary_lines
from deployments_ui.views.controls import control_context, controls_from
from deployments_ui.views.pages import needs_api_key

TEMPLATE = "deployments_ui/audit_event.html"
ABOUT_SETTINGS_OR_PEOPLE = frozenset({*ACCOUNT_ACTIONS, *SETTINGS_ACTIONS})


def _event(pk: int) -> AuditEvent:
    event = AuditEvent.objects.select_related("completes").filter(pk=pk).first()
    if event is None:
        raise Http404("No such audit event")
    return event.completes or event


def _context(request: SignedInRequest, event: AuditEvent, refused=None) -> dict:
    entry = entry_from_event(event, personal=sees_everything(request.user))
    recorded = event.after if isinstance(event.after, dict) else {}
    why_not = undo.undoable(event)
    field = getattr(refused, "field", "") if refused else ""
    return {
        "event": event,
        "entry": entry,
        "results": list(event.results.order_by("id")),
        "change_request": recorded.get("change_request"),
        "bulk_job": recorded.get("bulk_job_id"),
        "undoes": recorded.get("undoes"),
        "flow_health": summary_lines(recorded.get("flow_health")),
        "undone_by": AuditEvent.objects.filter(
            after__undoes=event.pk, completes__isnull=True
        ).first(),
        "may_undo": not why_not and may_act(request.user, event.action, event),
        "why_not": why_not,
        "refusal": refused.message if refused and field not in ("reason", "confirm_name") else "",
        "reason_error": refused.message if field == "reason" else "",
        "reason": request.POST.get("reason", "")[:500],
        **control_context(
            request.user,
            event.ref.environment,
            confirm_error=refused.message if field == "confirm_name" else "",
        ),
    }


@require_GET
def audit_event(request: SignedInRequest, pk: int) -> TemplateResponse:
    event = _event(pk)
    if event.action in ABOUT_SETTINGS_OR_PEOPLE and not sees_everything(request.user):
        raise Http404("No such audit event")
    return TemplateResponse(request, TEMPLATE, _context(request, event))


@require_POST
@needs_api_key
def audit_undo(request: SignedInRequest, pk: int) -> HttpResponse:
    """Undo the change an event records, through the one change pipeline."""
    event = _event(pk)
    if request.POST.get("confirmed") != "1":
        return redirect("audit-event", pk=event.pk)
    try:
        changed = undo.undo(
            actor=Actor.from_request(request),
            user=request.user,
            event_id=event.pk,
            reason=request.POST.get("reason", "")[:500],
            controls=controls_from(request),
        )
    except ApprovalNeeded as requested:
        messages.info(request, requested.message)
        return redirect("change-detail", pk=requested.change_request.pk)
    except ActionRefused as refused:
        context = _context(request, event, refused)
        return TemplateResponse(request, TEMPLATE, context, status=refused.http_status)
    except ConsoleError as error:
        context = _context(
            request,
            event,
            ActionRefused(gettext("%(message)s Nothing was changed.") % {"message": error.message}),
        )
        return TemplateResponse(request, TEMPLATE, context, status=error.http_status)
    messages.success(
        request,
        gettext("Undone: the change of event %(number)s was put back.") % {"number": event.pk},
    )
    return redirect(
        "deployment-detail", flow_version=changed.flow_version_id, deployment=changed.id
    )
