"""What the calendar shows: past changes, scheduled changes and freeze windows, gathered into days.

Everything comes from the console's own tables (the audit trail, `ScheduledChange`,
`ChangeRequest`, `FreezeWindow`, the drift snapshot for environment names): a calendar page costs
Patchworks nothing. Days are the reader's: the active time zone (the console_tz cookie) decides
where a day starts. A freeze window's occurrences are worked out in its own time zone.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from deployments_ui.audit.entries import describe, entry_from_event, entry_queryset
from deployments_ui.changes.models import ChangeRequest, FreezeWindow
from deployments_ui.models import AuditEvent, DeploymentSnapshot
from deployments_ui.schedules.models import ScheduledChange

VIEWS = ("day", "week", "month")
# Kinds of entry, as the page's "Show" filter offers them.
PAST_CHANGE = "change"
OUTSIDE = "outside"
SCHEDULING = "schedule"
APPROVAL = "approval"
SCHEDULED = "scheduled"
FREEZE = "freeze"
KINDS = {
    PAST_CHANGE: "Changes made in the console",
    OUTSIDE: "Changes made outside the console",
    SCHEDULING: "Changes scheduled, moved or cancelled",
    APPROVAL: "Approvals and overrides",
    SCHEDULED: "Scheduled changes still to come",
    FREEZE: "Freeze windows",
}
PAST_KINDS = (PAST_CHANGE, OUTSIDE, SCHEDULING, APPROVAL)
DEPLOYMENT_ACTIONS = ("create", "update", "delete", "enable", "disable")
SCHEDULING_ACTIONS = ("schedule", "reschedule", "unschedule")
APPROVAL_ACTIONS = ("approve", "break_glass", "freeze_override")
WAITING = (ScheduledChange.Status.PENDING, ScheduledChange.Status.APPLYING)
# A month of a busy trail stays readable and quick; the page says when some were left out.
PAST_LIMIT = 1000
ENVIRONMENT_TYPES = ("live", "test")


@dataclass(frozen=True)
class Filters:
    """The page's filters. `environment` is an environment's id, or "live" / "test"."""

    environment: str = ""
    flow: str = ""
    person: str = ""
    kinds: tuple[str, ...] = ()

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds

    @property
    def environment_type(self) -> str:
        return self.environment if self.environment in ENVIRONMENT_TYPES else ""

    @property
    def environment_id(self) -> str:
        return "" if self.environment in ENVIRONMENT_TYPES else self.environment


@dataclass(frozen=True)
class Environment:
    id: str
    name: str
    type: str


@dataclass(frozen=True)
class Entry:
    """One thing on the calendar: a past change, a scheduled change or a freeze occurrence."""

    kind: str
    starts_at: datetime
    text: str
    ends_at: datetime | None = None
    status: str = ""
    problem: bool = False
    reason: str = ""
    environment_type: str = ""
    flow_version_id: str = ""
    deployment_id: str = ""
    event_id: int | None = None
    schedule_id: int | None = None
    freeze_id: int | None = None
    # A freeze window's own time zone and its times there, e.g. "18:00–22:00 Europe/London".
    zone_note: str = ""

    @property
    def kind_label(self) -> str:
        return {
            PAST_CHANGE: "Change",
            OUTSIDE: "Outside change",
            SCHEDULING: "Schedule",
            APPROVAL: "Approval",
            SCHEDULED: "Scheduled",
            FREEZE: "Freeze",
        }[self.kind]

    @property
    def is_past(self) -> bool:
        return self.kind in PAST_KINDS


@dataclass(frozen=True)
class DayItem:
    """An entry as one day shows it: its time there ("14:05", "from 18:00", "all day")."""

    entry: Entry
    time_text: str
    sort_key: datetime


@dataclass
class Day:
    date: date
    items: list[DayItem] = field(default_factory=list)
    is_today: bool = False
    in_period: bool = True

    @property
    def freezes(self) -> list[DayItem]:
        return [item for item in self.items if item.entry.kind == FREEZE]

    @property
    def others(self) -> list[DayItem]:
        return [item for item in self.items if item.entry.kind != FREEZE]

    def hours(self) -> list[HourSlot]:
        """Each hour of the day with the entries starting in it (freezes aside), for the day view."""
        slots = [
            HourSlot(hour, timezone.make_aware(datetime.combine(self.date, time(hour))))
            for hour in range(24)
        ]
        for item in self.others:
            slots[timezone.localtime(item.entry.starts_at).hour].items.append(item)
        return slots


@dataclass
class HourSlot:
    hour: int
    starts_at: datetime
    items: list[DayItem] = field(default_factory=list)


@dataclass
class Period:
    """What one day, week or month view shows."""

    view: str
    anchor: date
    starts_at: datetime
    ends_at: datetime
    days: list[Day]
    previous: date
    next: date
    title: str
    truncated: bool = False

    @property
    def weeks(self) -> list[list[Day]]:
        return [self.days[index : index + 7] for index in range(0, len(self.days), 7)]

    @property
    def entry_count(self) -> int:
        return sum(len(day.items) for day in self.days if day.in_period)


# The period


def period_bounds(view: str, anchor: date) -> tuple[date, date, date, date, str]:
    """(first day shown, day after the last, previous anchor, next anchor, title)."""
    if view == "day":
        return (
            anchor,
            anchor + timedelta(days=1),
            anchor - timedelta(days=1),
            anchor + timedelta(days=1),
            anchor.strftime("%A %-d %B %Y"),
        )
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        sunday = monday + timedelta(days=6)
        return (
            monday,
            monday + timedelta(days=7),
            monday - timedelta(days=7),
            monday + timedelta(days=7),
            f"Week of {monday:%-d %B %Y} to {sunday:%-d %B %Y}",
        )
    first = anchor.replace(day=1)
    days_in_month = month_calendar.monthrange(first.year, first.month)[1]
    after = first + timedelta(days=days_in_month)
    previous = (first - timedelta(days=1)).replace(day=1)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = after + timedelta(days=(7 - after.weekday()) % 7)
    return grid_start, grid_end, previous, after, first.strftime("%B %Y")


def start_of(day: date) -> datetime:
    """Midnight at the start of `day` in the reader's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def calendar_period(
    *, view: str, anchor: date, filters: Filters, now: datetime | None = None
) -> Period:
    """The days of one view with their entries, in the reader's time zone."""
    now = now or timezone.now()
    first, after, previous, following, title = period_bounds(view, anchor)
    starts_at, ends_at = start_of(first), start_of(after)
    in_month = (anchor.year, anchor.month)
    days = [
        Day(
            date=first + timedelta(days=offset),
            is_today=first + timedelta(days=offset) == timezone.localdate(now),
            in_period=view != "month"
            or (first + timedelta(days=offset)).timetuple()[:2] == in_month,
        )
        for offset in range((after - first).days)
    ]
    past = past_entries(filters, starts_at, ends_at)
    entries = [
        *past,
        *scheduled_entries(filters, starts_at, ends_at),
        *freeze_entries(filters, starts_at, ends_at),
    ]
    _place(entries, days)
    return Period(
        view=view,
        anchor=anchor,
        starts_at=starts_at,
        ends_at=ends_at,
        days=days,
        previous=previous,
        next=following,
        title=title,
        truncated=len(past) >= PAST_LIMIT,
    )


def _place(entries: Iterable[Entry], days: list[Day]) -> None:
    """Put each entry on every day it touches (a freeze window may span several)."""
    for day in days:
        day_start, day_end = start_of(day.date), start_of(day.date + timedelta(days=1))
        for entry in entries:
            end = entry.ends_at or entry.starts_at
            touches = entry.starts_at < day_end and (
                end > day_start or (entry.ends_at is None and entry.starts_at >= day_start)
            )
            if touches:
                day.items.append(
                    DayItem(entry, _time_text(entry, day_start, day_end), entry.starts_at)
                )
        day.items.sort(key=lambda item: (item.entry.kind != FREEZE, item.sort_key))


def _time_text(entry: Entry, day_start: datetime, day_end: datetime) -> str:
    start = f"{timezone.localtime(entry.starts_at):%H:%M}"
    if entry.ends_at is None:
        return start
    end = f"{timezone.localtime(entry.ends_at):%H:%M}"
    begins_today = entry.starts_at >= day_start
    ends_today = entry.ends_at <= day_end
    if begins_today and ends_today:
        return f"{start}–{end}"
    if begins_today:
        return f"from {start}"
    if ends_today:
        return f"until {end}"
    return "all day"


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
    events = past_events(filters, starts_at, ends_at)[:PAST_LIMIT]
    return [_past_entry(event) for event in events]


def _past_entry(event: AuditEvent) -> Entry:
    entry = entry_from_event(event, personal=False)
    if event.source == AuditEvent.Source.PATCHWORKS:
        kind = OUTSIDE
    elif event.action in SCHEDULING_ACTIONS:
        kind = SCHEDULING
    elif event.action in APPROVAL_ACTIONS:
        kind = APPROVAL
    else:
        kind = PAST_CHANGE
    problem = entry.outcome in (
        AuditEvent.Outcome.FAILED,
        AuditEvent.Outcome.UNKNOWN,
        AuditEvent.Outcome.PENDING,
    )
    return Entry(
        kind=kind,
        starts_at=event.occurred_at,
        text=describe(entry),
        problem=problem and kind == PAST_CHANGE,
        reason=entry.reason,
        environment_type=event.environment_type,
        flow_version_id=event.flow_version_id,
        deployment_id=entry.deployment_id,
        event_id=event.pk,
    )


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
        if states.get(key) != ChangeRequest.Status.OPEN.label:
            states[key] = ChangeRequest.Status(request.status).label
    return states


def scheduled_text(change: ScheduledChange) -> str:
    """'Disable Orders v3 in UK Live until 18:00 — asked by Ann Smith'."""
    verb = "Enable" if change.action == ScheduledChange.Action.ENABLE else "Disable"
    text = f"{verb} {change.label}"
    if change.environment_type:
        text += f" ({change.environment_type})"
    if change.until:
        text += f" until {timezone.localtime(change.until):%-d %b %H:%M}"
    return f"{text} — asked by {change.requested_by_name}"


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
        return "being applied"
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
        if window.starts_at and window.ends_at:
            if window.starts_at < ends_at and window.ends_at > starts_at:
                yield window.starts_at, window.ends_at
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
    about = f" ({window.description})" if window.description else ""
    return f"Changes frozen in {window.scope_text}{about}"


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
    return f"{local_start:%a %-d %b %H:%M} to {local_end:%a %-d %b %H:%M} {window.time_zone}"


# Environments, for the filter


def known_environments() -> list[Environment]:
    """The environments the console has seen (drift snapshots, the trail, schedules), by name."""
    seen: dict[str, Environment] = {}
    for state in DeploymentSnapshot.objects.values_list("state", flat=True).iterator():
        target = state.get("target", {}) if isinstance(state, dict) else {}
        _note(seen, target.get("environment_id"), target.get("environment_name"), target)
    rows = (
        AuditEvent.objects.exclude(environment_id="")
        .values_list("environment_id", "environment_name", "environment_type")
        .distinct()[:500]
    )
    for key, name, kind in rows:
        _note(seen, key, name, {"environment_type": kind})
    rows = (
        ScheduledChange.objects.exclude(environment_id="")
        .values_list("environment_id", "environment_name", "environment_type")
        .distinct()[:500]
    )
    for key, name, kind in rows:
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
        or f"Environment {key}",
        type=(known.type if known and known.type else "")
        or str(target.get("environment_type") or ""),
    )
