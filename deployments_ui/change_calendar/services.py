"""What the calendar shows: past changes, scheduled changes and freeze windows, gathered into days.

Everything comes from the console's own tables (the audit trail, `ScheduledChange`,
`ChangeRequest`, `FreezeWindow`, the drift snapshot for environment names): a calendar page costs
Patchworks nothing. Days are the reader's: the active time zone (the console_tz cookie) decides
where a day starts. A freeze window's occurrences are worked out in its own time zone.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from deployments_ui.change_calendar.sources import (
    approval_states,
    complete,
    freeze_entries,
    freeze_text,
    freeze_windows,
    known_environments,
    occurrences,
    past_entries,
    scheduled_changes,
    scheduled_entries,
    scheduled_text,
)
from deployments_ui.change_calendar.types import (
    FREEZE,
    KINDS,
    PAST_LIMIT,
    Day,
    DayItem,
    Entry,
    Filters,
    Period,
)

__all__ = [
    "KINDS",
    "PAST_LIMIT",
    "Filters",
    "Period",
    "approval_states",
    "calendar_period",
    "freeze_text",
    "freeze_windows",
    "known_environments",
    "occurrences",
    "period_bounds",
    "scheduled_changes",
    "scheduled_text",
]


# The period


def _day_format() -> str:
    return pgettext("a day in a sentence (date format)", "j F Y")


def period_bounds(view: str, anchor: date) -> tuple[date, date, date, date, str]:
    """(first day shown, day after the last, previous anchor, next anchor, title)."""
    if view == "day":
        return (
            anchor,
            anchor + timedelta(days=1),
            anchor - timedelta(days=1),
            anchor + timedelta(days=1),
            date_format(anchor, pgettext("a day's title (date format)", "l j F Y")),
        )
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        sunday = monday + timedelta(days=6)
        return (
            monday,
            monday + timedelta(days=7),
            monday - timedelta(days=7),
            monday + timedelta(days=7),
            gettext("Week of %(monday)s to %(sunday)s")
            % {
                "monday": date_format(monday, _day_format()),
                "sunday": date_format(sunday, _day_format()),
            },
        )
    first = anchor.replace(day=1)
    days_in_month = month_calendar.monthrange(first.year, first.month)[1]
    after = first + timedelta(days=days_in_month)
    previous = (first - timedelta(days=1)).replace(day=1)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = after + timedelta(days=(7 - after.weekday()) % 7)
    return grid_start, grid_end, previous, after, date_format(first, "F Y")


def start_of(day: date) -> datetime:
    """Midnight at the start of `day` in the reader's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def calendar_period(
    *,
    view: str,
    anchor: date,
    filters: Filters,
    per_day: int | None = None,
    now: datetime | None = None,
) -> Period:
    """The days of one view with their entries, in the reader's time zone; each day keeps its
    first `per_day` entries (freeze windows first) and counts the rest in `hidden`."""
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
    for day in days:
        if per_day is not None and len(day.items) > per_day:
            day.hidden, day.items = len(day.items) - per_day, day.items[:per_day]
    complete(item.entry for day in days for item in day.items)
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
    by_date = {day.date: day for day in days}
    bounds = {
        day.date: (start_of(day.date), start_of(day.date + timedelta(days=1))) for day in days
    }
    for entry in entries:
        if entry.ends_at is None:
            touched = [by_date.get(timezone.localdate(entry.starts_at))]
        else:
            touched = [
                day
                for day in days
                if entry.starts_at < bounds[day.date][1] and entry.ends_at > bounds[day.date][0]
            ]
        for day in touched:
            if day is not None:
                start, end = bounds[day.date]
                day.items.append(DayItem(entry, _time_text(entry, start, end), entry.starts_at))
    for day in days:
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
        return gettext("from %(time)s") % {"time": start}
    if ends_today:
        return gettext("until %(time)s") % {"time": end}
    return gettext("all day")
