"""Gathering the calendar: freeze occurrences in their own zone, periods, days in the reader's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from deployments_ui.change_calendar import services
from deployments_ui.change_calendar.services import Filters
from tests.calendar.helpers import weekly_freeze

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def test_weekly_occurrences_keep_their_wall_clock_time_across_a_clock_change():
    window = weekly_freeze(start_day=4, start="18:00", end_day=0, end="06:00")
    found = list(
        services.occurrences(
            window,
            datetime(2026, 10, 20, tzinfo=UTC),
            datetime(2026, 11, 2, tzinfo=UTC),
        )
    )
    starts = [start.astimezone(UTC).strftime("%a %d %H:%M") for start, _ in found]
    # Clocks go back on Sunday 25 October 2026: 18:00 in London is 17:00 UTC, then 18:00 UTC.
    assert starts == ["Fri 23 17:00", "Fri 30 18:00"]
    assert all(start.astimezone(LONDON).hour == 18 for start, _ in found)


def test_an_occurrence_already_under_way_is_included():
    window = weekly_freeze(start_day=4, start="18:00", end_day=0, end="06:00")
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    found = list(services.occurrences(window, sunday, datetime(2026, 12, 7, tzinfo=UTC)))
    assert [(start.day, end.day) for start, end in found] == [(4, 7)]


@pytest.mark.parametrize(
    ("view", "anchor", "first", "after", "title"),
    [
        (
            "day",
            date(2026, 12, 9),
            date(2026, 12, 9),
            date(2026, 12, 10),
            "Wednesday 9 December 2026",
        ),
        (
            "week",
            date(2026, 12, 9),
            date(2026, 12, 7),
            date(2026, 12, 14),
            "Week of 7 December 2026 to 13 December 2026",
        ),
        ("month", date(2026, 12, 9), date(2026, 11, 30), date(2027, 1, 4), "December 2026"),
        ("month", date(2027, 2, 14), date(2027, 2, 1), date(2027, 3, 1), "February 2027"),
    ],
)
def test_periods_start_on_mondays_and_cover_whole_weeks(view, anchor, first, after, title):
    shown_from, shown_until, _, _, said = services.period_bounds(view, anchor)
    assert (shown_from, shown_until, said) == (first, after, title)


def test_days_follow_the_readers_time_zone():
    weekly_freeze(start_day=0, start="23:30", end_day=1, end="00:30", zone="UTC", scope="all")
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        period = services.calendar_period(view="week", anchor=date(2026, 12, 9), filters=Filters())
    # 23:30 UTC on Monday is 08:30 on Tuesday in Tokyo.
    tuesday = period.days[1]
    assert [item.time_text for item in tuesday.freezes] == ["08:30–09:30"]
    assert not period.days[0].items
