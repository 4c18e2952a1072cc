"""The calendar's plain data: its filters, its entries, and the days and periods they fill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, pgettext_lazy

VIEWS = ("day", "week", "month")
# Kinds of entry, as the page's "Show" filter offers them.
PAST_CHANGE = "change"
OUTSIDE = "outside"
SCHEDULING = "schedule"
APPROVAL = "approval"
SCHEDULED = "scheduled"
FREEZE = "freeze"
KINDS = {
    PAST_CHANGE: gettext_noop("Changes made in the console"),
    OUTSIDE: gettext_noop("Changes made outside the console"),
    SCHEDULING: gettext_noop("Changes scheduled, moved or cancelled"),
    APPROVAL: gettext_noop("Approvals and overrides"),
    SCHEDULED: gettext_noop("Scheduled changes still to come"),
    FREEZE: gettext_noop("Freeze windows"),
}
# One entry's kind, shown beside it.
KIND_LABELS = {
    PAST_CHANGE: pgettext_lazy("calendar entry", "Change"),
    OUTSIDE: gettext_noop("Outside change"),
    SCHEDULING: pgettext_lazy("calendar entry", "Schedule"),
    APPROVAL: gettext_noop("Approval"),
    SCHEDULED: gettext_noop("Scheduled"),
    FREEZE: gettext_noop("Freeze"),
}
PAST_KINDS = (PAST_CHANGE, OUTSIDE, SCHEDULING, APPROVAL)
DEPLOYMENT_ACTIONS = ("create", "update", "delete", "enable", "disable")
SCHEDULING_ACTIONS = ("schedule", "reschedule", "unschedule")
APPROVAL_ACTIONS = ("approve", "break_glass", "freeze_override")
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
    # A past change's sentence is worked out only if a page shows it (a month shows few).
    told_by: Callable[[], str] | None = field(default=None, compare=False, repr=False)
    # The audit row behind a past change, so that the shown ones are completed in one query.
    event: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def words(self) -> str:
        return self.told_by() if self.told_by is not None else self.text

    @property
    def kind_label(self) -> str:
        return gettext(str(KIND_LABELS[self.kind]))

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
    # How many more entries the day has than it shows (a month's day shows a few).
    hidden: int = 0

    @property
    def freezes(self) -> list[DayItem]:
        return [item for item in self.items if item.entry.kind == FREEZE]

    @property
    def others(self) -> list[DayItem]:
        return [item for item in self.items if item.entry.kind != FREEZE]

    def hours(self) -> list[HourSlot]:
        """Each hour of the day with the entries starting in it (freezes aside)."""
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
        return sum(len(day.items) + day.hidden for day in self.days if day.in_period)
