"""Where the calendar's entries come from: the audit trail (what changed), scheduled changes
(what will change, with the approval they wait for) and freeze windows (when changes are
refused), each filtered as the page asks. Only the console's own tables are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from deployments_ui.audit.entries import describe, entry_from_event, entry_queryset
from deployments_ui.audit.models import AuditEvent
from deployments_ui.change_calendar.types import (
    APPROVAL,
    APPROVAL_ACTIONS,
    DEPLOYMENT_ACTIONS,
    FREEZE,
    OUTSIDE,
    PAST_CHANGE,
    PAST_KINDS,
    PAST_LIMIT,
    SCHEDULED,
    SCHEDULING,
    SCHEDULING_ACTIONS,
    Entry,
    Environment,
    Filters,
)
from deployments_ui.changes.models import ChangeRequest, FreezeWindow
from deployments_ui.drift.models import DeploymentSnapshot
from deployments_ui.schedules.models import ScheduledChange

WAITING = (ScheduledChange.Status.PENDING, ScheduledChange.Status.APPLYING)

# Past changes (the audit trail)


def past_events(filters: Filters, starts_at: datetime, ends_at: datetime) -> QuerySet[AuditEvent]:
    """The trail's changes in [starts_at, ends_at) that pass the filters, newest first.

    Changes to deployments (through the console, its schedules and approved requests), schedules
    asked for, moved or cancelled, approvals and overrides, and changes seen outside the console.
    The console's refusals changed nothing and are left out.
    """
    events = (
        entry_queryset()
        .filter(occurred_at__gte=starts_at, occurred_at__lt=ends_at)
        .exclude(outcome=AuditEvent.Outcome.REFUSED)
        .filter(_kind_condition(filters))
    )
    if filters.environment_id:
        events = events.filter(environment_id=filters.environment_id)
    elif filters.environment_type:
        events = events.filter(environment_type=filters.environment_type)
    if filters.flow:
        events = events.filter(flow_name__icontains=filters.flow)
    if filters.person:
        events = events.filter(
            Q(actor_name__icontains=filters.person)
            | Q(actor_username__icontains=filters.person)
            | Q(sso_identity__icontains=filters.person)
        )
    return events


def _kind_condition(filters: Filters) -> Q:
    console = Q(source=AuditEvent.Source.CONSOLE)
    conditions = {
        PAST_CHANGE: console & Q(action__in=DEPLOYMENT_ACTIONS),
        OUTSIDE: Q(source=AuditEvent.Source.PATCHWORKS),
        SCHEDULING: console & Q(action__in=SCHEDULING_ACTIONS),
        APPROVAL: console & Q(action__in=APPROVAL_ACTIONS),
    }
    wanted = Q(pk__in=[])
    for kind, condition in conditions.items():
        if filters.wants(kind):
            wanted |= condition
    return wanted


def past_entries(filters: Filters, starts_at: datetime, ends_at: datetime) -> list[Entry]:
    if not any(filters.wants(kind) for kind in PAST_KINDS):
        return []
    # Outcome rows are fetched later, for the entries a page shows (`complete`).
    events = past_events(filters, starts_at, ends_at).prefetch_related(None)[:PAST_LIMIT]
    return [_past_entry(event) for event in events]


def _past_entry(event: AuditEvent) -> Entry:
    if event.source == AuditEvent.Source.PATCHWORKS:
        kind = OUTSIDE
    elif event.action in SCHEDULING_ACTIONS:
        kind = SCHEDULING
    elif event.action in APPROVAL_ACTIONS:
        kind = APPROVAL
    else:
        kind = PAST_CHANGE
    outcome = getattr(event, "final_outcome", event.outcome)
    problem = outcome in (
        AuditEvent.Outcome.FAILED,
        AuditEvent.Outcome.UNKNOWN,
        AuditEvent.Outcome.PENDING,
    )
    return Entry(
        kind=kind,
        starts_at=event.occurred_at,
        text="",
        told_by=lambda: describe(entry_from_event(event, personal=False)),
        problem=problem and kind == PAST_CHANGE,
        reason=event.reason,
        environment_type=event.environment_type,
        flow_version_id=event.flow_version_id,
        deployment_id=event.deployment_id,
        event_id=event.pk,
        event=event,
    )


def complete(entries: Iterable[Entry]) -> None:
    """Fetch the outcome rows of these past changes in one query, for their sentences."""
    events = [entry.event for entry in entries if entry.event is not None]
    prefetch_related_objects(events, "results")


# Scheduled changes


def scheduled_changes(
    filters: Filters, starts_at: datetime, ends_at: datetime
) -> list[ScheduledChange]:
    """Changes still to be made (waiting or being applied) due in [starts_at, ends_at)."""
    if not filters.wants(SCHEDULED):
        return []
    changes = ScheduledChange.objects.filter(
        status__in=WAITING, due_at__gte=starts_at, due_at__lt=ends_at
    )
    if filters.environment_id:
        changes = changes.filter(environment_id=filters.environment_id)
    elif filters.environment_type:
        changes = changes.filter(environment_type=filters.environment_type)
    if filters.flow:
        changes = changes.filter(flow_name__icontains=filters.flow)
    if filters.person:
        changes = changes.filter(requested_by_name__icontains=filters.person)
    return list(changes.order_by("due_at", "id"))


def approval_states(changes: Iterable[ScheduledChange]) -> dict[tuple[str, str], str]:
    """(deployment id, action) -> the open change request's state, in one query."""
    ids = {change.deployment_id for change in changes}
    if not ids:
        return {}
    requests = ChangeRequest.objects.filter(
        deployment_id__in=ids, status__in=ChangeRequest.OPEN_STATUSES
    ).order_by("requested_at", "id")
    states: dict[tuple[str, str], str] = {}
    for request in requests:
        key = (request.deployment_id, request.action)
        # Waiting for approval wins over approved: that is what can still hold the change up.
        if states.get(key) != gettext(ChangeRequest.Status.OPEN.label):
            states[key] = gettext(ChangeRequest.Status(request.status).label)
    return states


def _short_moment() -> str:
    return pgettext("a short day and time (date format)", "j M H:i")


def scheduled_text(change: ScheduledChange) -> str:
    """'Disable Orders v3 in UK Live until 18:00 — asked by Ann Smith'."""
    place = change.label
    if change.environment_type:
        place += f" ({gettext(change.environment_type)})"
    enable = change.action == ScheduledChange.Action.ENABLE
    text = (gettext("Enable %(place)s") if enable else gettext("Disable %(place)s")) % {
        "place": place
    }
    if change.until:
        until = date_format(timezone.localtime(change.until), _short_moment())
        text = gettext("%(change)s until %(time)s") % {"change": text, "time": until}
    return gettext("%(change)s — asked by %(name)s") % {
        "change": text,
        "name": change.requested_by_name,
    }


def scheduled_entries(filters: Filters, starts_at: datetime, ends_at: datetime) -> list[Entry]:
    changes = scheduled_changes(filters, starts_at, ends_at)
    states = approval_states(changes)
    return [
        Entry(
            kind=SCHEDULED,
            starts_at=change.due_at,
            text=scheduled_text(change),
            status=_scheduled_status(change, states),
            reason=change.reason,
            environment_type=change.environment_type,
            flow_version_id=change.flow_version_id,
            deployment_id=change.deployment_id,
            schedule_id=change.pk,
        )
        for change in changes
    ]


def _scheduled_status(change: ScheduledChange, states: dict[tuple[str, str], str]) -> str:
    if change.status == ScheduledChange.Status.APPLYING:
        return gettext("being applied")
    return states.get((change.deployment_id, change.action), "")


# Freeze windows


def freeze_windows(filters: Filters) -> list[FreezeWindow]:
    """The freeze windows that cover the environment filtered on (all of them without one)."""
    if not filters.wants(FREEZE):
        return []
    windows = list(FreezeWindow.objects.order_by("id"))
    if not filters.environment:
        return windows
    environments = {item.id: item for item in known_environments()}
    return [window for window in windows if _covers(window, filters, environments)]


def _covers(window: FreezeWindow, filters: Filters, known: dict[str, Environment]) -> bool:
    if filters.environment_type:
        if window.scope in (FreezeWindow.Scope.ALL, filters.environment_type):
            return True
        return window.scope == FreezeWindow.Scope.CHOSEN and any(
            str(key) in known and known[str(key)].type == filters.environment_type
            for key in window.environment_ids
        )
    environment = known.get(filters.environment_id)
    kind = environment.type if environment else None
    return window.covers(filters.environment_id, kind)


def occurrences(
    window: FreezeWindow, starts_at: datetime, ends_at: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of each occurrence of the window that overlaps [starts_at, ends_at)."""
    if window.kind == FreezeWindow.Kind.ONCE:
        start, end = window.starts_at, window.ends_at
        if start and end and start < ends_at and end > starts_at:
            yield start, end
        return
    current = window.occurrence_at(starts_at)
    at = starts_at
    if current is not None:
        yield current
        at = current[0]
    while (following := window.next_occurrence(at)) is not None and following[0] < ends_at:
        yield following
        at = following[0]


def freeze_text(window: FreezeWindow) -> str:
    """'Changes frozen in every live environment (release week)'."""
    where = window.scope_text if window.scope == window.Scope.CHOSEN else gettext(window.scope_text)
    text = gettext("Changes frozen in %(where)s") % {"where": where}
    return f"{text} ({window.description})" if window.description else text


def freeze_entries(filters: Filters, starts_at: datetime, ends_at: datetime) -> list[Entry]:
    entries = []
    for window in freeze_windows(filters):
        try:
            found = list(occurrences(window, starts_at, ends_at))
        except ValueError:
            continue  # a weekly window without its days: the form never saves one
        for start, end in found:
            entries.append(
                Entry(
                    kind=FREEZE,
                    starts_at=start,
                    ends_at=end,
                    text=freeze_text(window),
                    freeze_id=window.pk,
                    zone_note=_zone_note(window, start, end),
                )
            )
    return entries


def _zone_note(window: FreezeWindow, start: datetime, end: datetime) -> str:
    zone = window.zone
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.date() == local_end.date():
        return f"{local_start:%H:%M}–{local_end:%H:%M} {window.time_zone}"
    words = {
        "start": date_format(local_start, pgettext("a day and time (date format)", "D j M H:i")),
        "end": date_format(local_end, pgettext("a day and time (date format)", "D j M H:i")),
        "zone": window.time_zone,
    }
    return gettext("%(start)s to %(end)s %(zone)s") % words


# Environments, for the filter


def known_environments() -> list[Environment]:
    """The environments the console has seen (drift snapshots, the trail, schedules), by name."""
    seen: dict[str, Environment] = {}
    for state in DeploymentSnapshot.objects.values_list("state", flat=True).iterator():
        target = state.get("target", {}) if isinstance(state, dict) else {}
        _note(seen, target.get("environment_id"), target.get("environment_name"), target)
    rows = (
        AuditEvent.objects.exclude(environment_id="")
        .order_by()  # the model's ordering would make DISTINCT see every row as different
        .values_list("environment_id", "environment_name", "environment_type")
        .distinct()[:500]
    )
    for key, name, kind in rows:
        _note(seen, key, name, {"environment_type": kind})
    scheduled_rows = (
        ScheduledChange.objects.exclude(environment_id="")
        .order_by()  # the model's ordering would make DISTINCT see every row as different
        .values_list("environment_id", "environment_name", "environment_type")
        .distinct()[:500]
    )
    for key, name, kind in scheduled_rows:
        _note(seen, key, name, {"environment_type": kind})
    return sorted(seen.values(), key=lambda item: item.name.casefold())


def _note(seen: dict[str, Environment], key: object, name: object, target: dict) -> None:
    if not key:
        return
    key = str(key)
    known = seen.get(key)
    seen[key] = Environment(
        id=key,
        name=(known.name if known and known.name else "")
        or str(name or "")
        or gettext("Environment %(id)s") % {"id": key},
        type=(known.type if known and known.type else "")
        or str(target.get("environment_type") or ""),
    )
