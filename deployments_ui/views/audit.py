"""The audit log and its CSV export.

Who sees what: every role with `view_deployments` (Viewer, Operator, Editor, Admin) sees every
deployment event, console and external alike. Patchworks keys belong to the company, so every
person with a key can already see every deployment; hiding other people's events would hide
nothing about the deployments themselves and would make "who changed this?" unanswerable.
Changes to change control's rules and freeze windows are not about deployments: only Admins
(`manage_console`) see them.
Access is checked by the access middleware (URL names audit-log and audit-export).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from deployments_ui.audit import AuditUnavailable
from deployments_ui.audit.entries import (
    AuditEntry,
    describe,
    entry_from_event,
    entry_queryset,
    for_deployment,
    state_lines,
)
from deployments_ui.http import ConsoleRequest
from deployments_ui.models import AuditEvent
from deployments_ui.presenters import pager
from deployments_ui.views.pages import respond

PER_PAGE = 25
UNREADABLE = "The audit log cannot be read just now. Try again in a minute."
EXPORT_CHUNK = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ACTION_CHOICES = [
    ("", "Any action"),
    ("enable", "Enable"),
    ("disable", "Disable"),
    ("create", "Create"),
    ("update", "Change"),
    ("delete", "Delete"),
    ("request", "Ask for approval"),
    ("request_edit", "Edit a change request"),
    ("approve", "Approve"),
    ("decline", "Decline"),
    ("expire", "Change request expired"),
    ("break_glass", "Break glass"),
    ("freeze_override", "Override a freeze window"),
    ("control_settings", "Change control settings"),
]
OUTCOME_CHOICES = [
    ("", "Any outcome"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("unknown", "Outcome unknown"),
    ("refused", "Refused by the console"),
    ("pending", "No outcome recorded"),
]
SOURCE_CHOICES = [
    ("", "Console and Patchworks"),
    ("console", "Through the console"),
    ("patchworks", "Outside the console"),
]
EXPORT_COLUMNS = [
    "Event id",
    "When (UTC)",
    "Where",
    "Person",
    "Console username",
    "SSO identity",
    "Signed in with",
    "IP address",
    "User agent",
    "Request id",
    "Action",
    "Deployment id",
    "Flow version id",
    "Flow id",
    "Flow",
    "Environment id",
    "Environment",
    "Environment type",
    "Reason",
    "Outcome",
    "Outcome recorded at (UTC)",
    "Patchworks status",
    "Message",
    "Before",
    "After",
    "In words",
    "Event ids",
]


class AuditFilterForm(forms.Form):
    """The audit log's filters; read from the query string so every view can be shared."""

    person = forms.CharField(
        required=False, max_length=150, label="Person", help_text="Name, username or SSO identity"
    )
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES, label="Action")
    outcome = forms.ChoiceField(required=False, choices=OUTCOME_CHOICES, label="Outcome")
    source = forms.ChoiceField(required=False, choices=SOURCE_CHOICES, label="Where")
    deployment = forms.CharField(required=False, max_length=40, label="Deployment id")
    flow = forms.CharField(required=False, max_length=255, label="Flow name contains")
    environment = forms.CharField(required=False, max_length=255, label="Environment")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict:
        """The valid, non-empty filters (a filter that was not understood is left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: value for name, value in data.items() if value not in ("", None)}


def filtered_events(filters: dict, user=None) -> QuerySet[AuditEvent]:
    """Attempts, refusals and external events matching the filters, newest first."""
    events = entry_queryset()
    if user is not None and not user.has_perm("deployments_ui.manage_console"):
        events = events.exclude(action=AuditEvent.Action.CONTROL_SETTINGS)
    if person := filters.get("person"):
        events = events.filter(
            Q(actor_name__icontains=person)
            | Q(actor_username__icontains=person)
            | Q(sso_identity__icontains=person)
        )
    if action := filters.get("action"):
        events = events.filter(action=action)
    if outcome := filters.get("outcome"):
        events = events.filter(final_outcome=outcome)
    if source := filters.get("source"):
        events = events.filter(source=source)
    if deployment := filters.get("deployment"):
        events = for_deployment(events, deployment.strip())
    if flow := filters.get("flow"):
        events = events.filter(flow_name__icontains=flow)
    if environment := filters.get("environment"):
        events = events.filter(environment_name__icontains=environment)
    if day := filters.get("date_from"):
        events = events.filter(occurred_at__gte=_start_of(day))
    if day := filters.get("date_to"):
        events = events.filter(occurred_at__lt=_start_of(day + timedelta(days=1)))
    return events


@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: ConsoleRequest) -> TemplateResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    context = {
        "form": form,
        "filtered": bool(filters),
        "invalid_filters": [form[name].label for name in form.errors],
    }
    error = None
    try:
        context.update(_page_of_events(filters, request.GET.get("page"), request.user))
    except DatabaseError:
        error = AuditUnavailable(UNREADABLE)
    template = "deployments_ui/audit_log.html"
    return respond(request, template, context, fragment=f"{template}#audit-table", error=error)


def _page_of_events(filters: dict, number: str | None, user) -> dict:
    paginator = Paginator(filtered_events(filters, user), PER_PAGE)
    page = paginator.get_page(number)
    return {
        "page": page,
        "entries": [entry_from_event(event) for event in page.object_list],
        "pager": pager(
            page.number, paginator.num_pages, previous_label="‹ Newer", next_label="Older ›"
        ),
    }


@require_GET
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    events = filtered_events(AuditFilterForm(request.GET).filters(), request.user)
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    filename = f"audit-log-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# CSV


class _Echo:
    """A file-like object that hands back what csv.writer writes, for streaming."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte-order mark makes spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield writer.writerow(escape_cells(_export_row(event)))


def escape_cells(cells: Iterable[object]) -> list[str]:
    """Text that a spreadsheet would run as a formula gets a leading quote."""
    escaped = []
    for cell in cells:
        text = "" if cell is None else str(cell)
        escaped.append(f"'{text}" if text.startswith(FORMULA_STARTS) else text)
    return escaped


def _export_row(event: AuditEvent) -> list[object]:
    entry: AuditEntry = entry_from_event(event)
    result = next(iter(sorted(event.results.all(), key=lambda row: row.pk)), None)
    final = result or event
    return [
        event.pk,
        _utc(event.occurred_at),
        "outside the console" if entry.is_external else "console",
        entry.actor,
        event.actor_username,
        event.sso_identity,
        event.sign_in_method,
        event.ip_address,
        event.user_agent,
        event.request_id,
        event.action,
        entry.deployment_id,
        event.flow_version_id,
        event.flow_id,
        event.flow_name,
        final.environment_id,
        final.environment_name,
        final.environment_type,
        event.reason,
        entry.outcome_text,
        _utc(result.occurred_at) if result else "",
        entry.upstream_status or "",
        entry.message,
        _state_text(event.before),
        _state_text(final.after),
        describe(entry),
        " ".join(str(pk) for pk in entry.event_ids),
    ]


def _state_text(state: object) -> str:
    return "; ".join(f"{label}: {value}" for label, value in state_lines(state))


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
