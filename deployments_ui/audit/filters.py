"""The audit log's filters, applied: the one query behind the audit page, its export and the
REST API's audit route."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from deployments_ui.audit.entries import entry_queryset, for_deployment
from deployments_ui.audit.people import ACCOUNT_ACTIONS
from deployments_ui.audit.wording import SETTINGS_ACTIONS

# "What changed before…": the hours looked back from `before` unless `hours` says otherwise.
BEFORE_HOURS = 6
MAX_BEFORE_HOURS = 24 * 14
ACCOUNTS = "accounts"


def filtered_events(filters: dict[str, Any], *, accounts: bool = False) -> QuerySet[Any]:
    """Attempts, refusals and external events matching the filters, newest first.

    `accounts`: include the events about people's accounts and the console's settings (for those
    who see everything).
    """
    events = entry_queryset()
    if not accounts:
        events = events.exclude(action__in=[*ACCOUNT_ACTIONS, *SETTINGS_ACTIONS])
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


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
