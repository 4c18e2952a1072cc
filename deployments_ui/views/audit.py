"""The audit log and its CSV export.

Who sees what: every role with `view_deployments` (Viewer, Operator, Editor, Admin) sees every
deployment event, console and external alike. Patchworks keys belong to the company, so every
person with a key can already see every deployment; hiding other people's events would hide
nothing about the deployments themselves and would make "who changed this?" unanswerable.
Admins (`manage_console`) also see what is about people or the console rather than deployments:
events about accounts (failed sign-ins, lockouts, roles, API keys), changes to change control's
rules and freeze windows, and people's IP addresses and browsers.
Access is checked by the access middleware (URL names audit-log and audit-export).

The CSV export holds at most `CONSOLE_AUDIT_EXPORT_MAX_ROWS` events (newest first; the page says
so, and a last row says when some were left out), and each person runs one export at a time.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
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
)
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.audit.values import state_lines
from deployments_ui.core.http import ConsoleRequest
from deployments_ui.presenters import pager
from deployments_ui.views.pages import respond

PER_PAGE = 25
UNREADABLE = "The audit log cannot be read just now. Try again in a minute."
EXPORT_CHUNK = 500
# One export per person at a time; the lock expires on its own if a worker dies mid-export.
EXPORT_LOCK_SECONDS = 600
# "What changed before…": the hours looked back from `before` unless `hours` says otherwise.
BEFORE_HOURS = 6
MAX_BEFORE_HOURS = 24 * 14
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
PERSONAL_COLUMNS = ("IP address", "User agent")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ACCOUNTS = "accounts"
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
    ("withdraw", "Change request withdrawn"),
    ("break_glass", "Applied without waiting for approval"),
    ("freeze_override", "Override a freeze window"),
    ("miss", "Change request missed its time"),
    ("control_settings", "Change control settings"),
    ("webhook", "Webhook changes"),
    (ACCOUNTS, "Anything about people's accounts (sign-ins, roles, keys, leaving)"),
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


class IsoDateTimeField(forms.DateTimeField):
    """A date and time in ISO 8601, also when a link's "+01:00" arrived as " 01:00"."""

    def to_python(self, value):
        if isinstance(value, str):
            value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip())
        return super().to_python(value)


class AuditFilterForm(forms.Form):
    """The audit log's filters; read from the query string so every view can be shared."""

    person = forms.CharField(
        required=False,
        max_length=150,
        label="Person",
        help_text="Name, username or single sign-on name",
    )
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES, label="Action")
    outcome = forms.ChoiceField(required=False, choices=OUTCOME_CHOICES, label="Outcome")
    source = forms.ChoiceField(required=False, choices=SOURCE_CHOICES, label="Where")
    deployment = forms.CharField(required=False, max_length=40, label="Deployment id")
    flow = forms.CharField(required=False, max_length=255, label="Flow name contains")
    environment = forms.CharField(required=False, max_length=255, label="Environment")
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    before = IsoDateTimeField(
        required=False,
        label="Changes before",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="With “Hours before”: what changed in the hours before this moment",
    )
    hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BEFORE_HOURS,
        label="Hours before",
        help_text=f"{BEFORE_HOURS} unless you say",
    )

    def filters(self) -> dict:
        """The valid, non-empty filters (a filter that was not understood is left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: value for name, value in data.items() if value not in ("", None)}


def sees_everything(user) -> bool:
    """Whether the person may see account and settings events, and people's addresses and
    browsers."""
    return user.has_perm("deployments_ui.manage_console")


def filtered_events(filters: dict, *, accounts: bool = False) -> QuerySet[AuditEvent]:
    """Attempts, refusals and external events matching the filters, newest first.

    `accounts`: include the events about people's accounts and the console's settings (for those
    who see everything).
    """
    events = entry_queryset()
    if not accounts:
        events = events.exclude(
            action__in=[
                *ACCOUNT_ACTIONS,
                AuditEvent.Action.CONTROL_SETTINGS,
                AuditEvent.Action.WEBHOOK,
            ]
        )
    if person := filters.get("person"):
        # Who acted, and who asked for or approved a change made through a request.
        events = events.filter(
            Q(actor_name__icontains=person)
            | Q(actor_username__icontains=person)
            | Q(sso_identity__icontains=person)
            | Q(after__requested_by__icontains=person)
            | Q(after__approved_by__icontains=person)
        )
    if action := filters.get("action"):
        events = events.filter(action__in=ACCOUNT_ACTIONS if action == ACCOUNTS else [action])
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
    if before := filters.get("before"):
        since = before - timedelta(hours=filters.get("hours") or BEFORE_HOURS)
        events = events.filter(occurred_at__lte=before, occurred_at__gt=since)
    return events


@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: ConsoleRequest) -> TemplateResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    everything = sees_everything(request.user)
    context = {
        "form": form,
        "export_max_rows": settings.CONSOLE_AUDIT_EXPORT_MAX_ROWS,
        "filtered": bool(filters),
        "invalid_filters": [form[name].label for name in form.errors],
        "before": filters.get("before"),
        "before_hours": filters.get("hours") or BEFORE_HOURS,
    }
    error = None
    try:
        context.update(_page_of_events(filters, request.GET.get("page"), everything))
    except DatabaseError:
        error = AuditUnavailable(UNREADABLE)
    template = "deployments_ui/audit_log.html"
    return respond(request, template, context, fragment=f"{template}#audit-table", error=error)


def _page_of_events(filters: dict, number: str | None, everything: bool) -> dict:
    paginator = Paginator(filtered_events(filters, accounts=everything), PER_PAGE)
    page = paginator.get_page(number)
    return {
        "page": page,
        "entries": [entry_from_event(event, personal=everything) for event in page.object_list],
        "pager": pager(
            page.number, paginator.num_pages, previous_label="‹ Newer", next_label="Older ›"
        ),
    }


@require_GET
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    everything = sees_everything(request.user)
    events = filtered_events(AuditFilterForm(request.GET).filters(), accounts=everything)
    lock = f"audit-export:{request.user.pk}"
    if not cache.add(lock, 1, timeout=EXPORT_LOCK_SECONDS):
        return TemplateResponse(
            request,
            "deployments_ui/audit_export_busy.html",
            {"back": request.GET.urlencode()},
            status=429,
        )
    lines = _csv_lines(events, settings.CONSOLE_AUDIT_EXPORT_MAX_ROWS, personal=everything)
    response = StreamingHttpResponse(
        _releasing(lines, lock), content_type="text/csv; charset=utf-8"
    )
    filename = f"audit-log-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# CSV


class _Echo:
    """A file-like object that hands back what csv.writer writes, for streaming."""

    def write(self, value: str) -> str:
        return value


def _releasing(lines: Iterator[str], lock: str) -> Iterator[str]:
    """The lines, then the person's export lock released (also when the download is cut)."""
    try:
        yield from lines
    finally:
        cache.delete(lock)


def _csv_lines(
    events: QuerySet[AuditEvent], max_rows: int, *, personal: bool = True
) -> Iterator[str]:
    writer = csv.writer(_Echo())
    keep = [personal or name not in PERSONAL_COLUMNS for name in EXPORT_COLUMNS]
    # The byte-order mark makes spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + writer.writerow(_kept(EXPORT_COLUMNS, keep))
    rows = events[: max_rows + 1].iterator(chunk_size=EXPORT_CHUNK)
    for written, event in enumerate(rows):
        if written == max_rows:
            note = [""] * len(EXPORT_COLUMNS)
            note[EXPORT_COLUMNS.index("In words")] = (
                f"Only the newest {max_rows:,} matching events are in this file. "
                "Choose earlier dates to export the rest."
            )
            yield writer.writerow(_kept(note, keep))
            return
        yield writer.writerow(escape_cells(_kept(_export_row(event), keep)))


def _kept(cells: list, keep: list[bool]) -> list:
    return [cell for cell, wanted in zip(cells, keep, strict=True) if wanted]


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
