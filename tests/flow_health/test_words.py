"""Health in plain words, and each sentence tying it to the last change."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from deployments_ui.flow_health import (
    Health,
    Kind,
    LastChange,
    RunCounts,
    ago,
    clock,
    describe,
    explain,
    span,
)
from tests.flow_health.helpers import LONDON, NOW, at, run


def health(kind, since=None, *, enabled=True, shared=False, succeeded=1, last_failure=None):
    return Health(
        deployment_id="42",
        kind=kind,
        since=since,
        counts=RunCounts(total=succeeded + 1, succeeded=succeeded),
        last_run=None,
        last_failure=last_failure,
        enabled=enabled,
        shared=shared,
    )


def words(h, change=None):
    return explain(h, change, now=NOW, tz=LONDON)


def test_times_are_the_readers_clock_today_yesterday_or_a_date():
    assert clock(at("14:02"), now=NOW, tz=LONDON) == "14:02"
    assert clock(at("14:02"), now=NOW, tz=ZoneInfo("America/New_York")) == "09:02"
    assert clock(at("14:02") - timedelta(days=1), now=NOW, tz=LONDON) == "yesterday at 14:02"
    assert clock(at("14:02") - timedelta(days=2), now=NOW, tz=LONDON) == "Sat 5 Dec at 14:02"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=3, seconds=50), "3 minutes"),
        (timedelta(hours=2, minutes=59), "2 hours"),
        (timedelta(hours=30), "30 hours"),
        (timedelta(days=3, hours=1), "3 days"),
    ],
)
def test_spans_are_rounded_down_to_one_unit(delta, text):
    assert span(delta) == text


def test_ago_says_just_now_under_a_minute():
    assert ago(NOW - timedelta(seconds=20), now=NOW) == "just now"
    assert ago(NOW - timedelta(hours=2), now=NOW) == "2 hours ago"


@pytest.mark.parametrize(
    ("h", "text"),
    [
        (health(Kind.FINE, at("13:00")), "Running fine"),
        (health(Kind.FINE, succeeded=0), "Running now"),
        (health(Kind.FAILING, at("14:02")), "Failing since 14:02"),
        (health(Kind.NOT_RUN, at("12:00")), "Not run since 12:00"),
        (health(Kind.NOT_RUN, enabled=False), "Not running (switched off)"),
        (health(Kind.NOT_RUN), "Not run lately"),
        (health(Kind.UNKNOWN), "No recent runs seen"),
        (
            health(Kind.FAILING, at("14:02"), shared=True),
            "Failing since 14:02 (runs of this version in all its environments)",
        ),
    ],
)
def test_health_alone_in_plain_words(h, text):
    assert describe(h, now=NOW, tz=LONDON) == text


def test_not_run_since_someone_disabled_it_with_their_reason():
    change = LastChange("Ann Smith", "disabled it", NOW - timedelta(hours=2), "supplier outage")
    h = health(Kind.NOT_RUN, NOW - timedelta(hours=2, minutes=5), enabled=False)
    assert words(h, change) == "Not run since Ann Smith disabled it 2 hours ago: supplier outage"


def test_not_run_since_someone_disabled_it_without_a_reason_or_a_last_run():
    change = LastChange("Ann Smith", "disabled it", NOW - timedelta(minutes=40), " ")
    h = health(Kind.NOT_RUN, None, enabled=False)
    assert words(h, change) == "Not run since Ann Smith disabled it 40 minutes ago"


def test_not_run_since_before_an_older_change_leaves_the_change_out():
    change = LastChange("Ann Smith", "changed its priority", at("09:00"))
    assert words(health(Kind.NOT_RUN, at("12:00")), change) == "Not run since 12:00"


def test_failing_minutes_after_a_change():
    change = LastChange("Bob Jones", "changed its priority", at("13:59"), "busy queue")
    h = health(Kind.FAILING, at("14:02"))
    assert words(h, change) == "Failing since 14:02, 3 minutes after Bob Jones changed its priority"


def test_failing_long_after_a_change_does_not_blame_it():
    change = LastChange("Bob Jones", "changed its priority", at("14:02") - timedelta(hours=5))
    assert words(health(Kind.FAILING, at("14:02")), change) == "Failing since 14:02"


def test_failing_before_a_change_and_still_after_it():
    change = LastChange("Bob Jones", "moved it to UK Live", at("14:10"))
    h = health(Kind.FAILING, at("14:02"))
    expected = "Failing since 14:02, and still after Bob Jones moved it to UK Live at 14:10"
    assert words(h, change) == expected


def test_running_fine_since_a_recent_change_after_failures():
    change = LastChange("Cara Lee", "enabled it", NOW - timedelta(minutes=20))
    failed = run("13:00", "failed")
    h = health(Kind.FINE, at("14:15"), last_failure=failed)
    assert words(h, change) == "Running fine since Cara Lee enabled it 20 minutes ago"


def test_running_fine_with_no_failures_to_fix_is_just_fine():
    change = LastChange("Cara Lee", "changed its priority", NOW - timedelta(minutes=20))
    assert words(health(Kind.FINE, at("13:00")), change) == "Running fine"


def test_shared_runs_are_never_tied_to_one_deployments_change():
    change = LastChange("Bob Jones", "changed its priority", at("13:59"))
    h = health(Kind.FAILING, at("14:02"), shared=True)
    assert words(h, change).startswith("Failing since 14:02 (runs of this version")


def test_no_change_gives_the_health_alone_and_no_health_gives_nothing():
    assert words(health(Kind.FAILING, at("14:02"))) == "Failing since 14:02"
    assert words(None, LastChange("Ann Smith", "disabled it", NOW)) == ""


def test_the_sentence_tying_health_to_a_change_reads_in_german():
    from django.utils import translation

    from deployments_ui.flow_health import change_verb

    with translation.override("de"):
        change = LastChange(
            "Ann Smith", change_verb("disable"), NOW - timedelta(hours=2), "Lieferant"
        )
        h = health(Kind.NOT_RUN, NOW - timedelta(hours=2, minutes=5), enabled=False)
        assert words(h, change) == (
            "Nicht gelaufen, seit Ann Smith es deaktiviert hat (vor 2 Stunden): Lieferant"
        )
        moved = change_verb("update", {"priority": 3}, {"priority": 1})
        assert moved == "seine Priorität geändert hat"
