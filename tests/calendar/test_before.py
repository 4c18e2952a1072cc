""" "What changed before…" on the audit log: `?before=<ISO datetime>` and `hours=`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from deployments_ui import audit
from tests.factories import TARGET

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def outside_change(at: datetime, who: str, action: str = "disable"):
    return audit.record_external(
        action=action,
        target=TARGET,
        before={"enabled": True},
        after={"enabled": False},
        actor_name=who,
        occurred_at=at,
    )


@pytest.fixture
def trail():
    for hours, who in [(1, "One Hour"), (5, "Five Hours"), (7, "Seven Hours"), (-1, "Later On")]:
        outside_change(NOON - timedelta(hours=hours), who)


def people(response) -> list[str]:
    return re.findall(r"(\w+ \w+) disabled Orders", response.content.decode())


@pytest.fixture
def signed_in(client, viewer):
    client.force_login(viewer)
    client.cookies["console_tz"] = "Europe/London"
    return client


def test_the_six_hours_before_a_moment_newest_first(signed_in, trail):
    response = signed_in.get(f"/audit/?before={quote(NOON.isoformat())}")
    assert people(response) == ["One Hour", "Five Hours"]
    page = re.sub(r"\s+", " ", response.content.decode())
    assert "What changed in the 6 hours before 12:00, Monday 30 November 2026" in page
    assert "/calendar/?view=day&amp;date=2026-11-30" in page


def test_hours_widens_the_look_back(signed_in, trail):
    response = signed_in.get(f"/audit/?before={quote(NOON.isoformat())}&hours=24")
    assert people(response) == ["One Hour", "Five Hours", "Seven Hours"]
    assert people(signed_in.get(f"/audit/?before={quote(NOON.isoformat())}&hours=2")) == [
        "One Hour"
    ]


def test_a_plus_sign_that_arrived_as_a_space_still_reads(signed_in, trail):
    # "+00:00" typed into a link unencoded reaches the server as " 00:00".
    response = signed_in.get("/audit/?before=2026-11-30T12:00:00+00:00")
    assert people(response) == ["One Hour", "Five Hours"]


def test_a_time_without_a_zone_is_in_the_readers(client, viewer, trail):
    client.force_login(viewer)
    client.cookies["console_tz"] = "Asia/Tokyo"  # 21:00 in Tokyo is 12:00 UTC
    assert people(client.get("/audit/?before=2026-11-30T21:00")) == ["One Hour", "Five Hours"]


def test_nonsense_is_left_out_and_said(signed_in, trail):
    response = signed_in.get("/audit/?before=yesterday-ish&hours=9999")
    assert response.status_code == 200
    assert "Some filters were not understood" in response.content.decode()
    assert len(people(response)) == 4


def test_the_export_takes_the_same_window(signed_in, trail):
    response = signed_in.get(f"/audit/export.csv?before={quote(NOON.isoformat())}")
    body = b"".join(response.streaming_content).decode()
    assert "One Hour" in body and "Five Hours" in body and "Seven Hours" not in body


def test_a_look_back_can_be_kept_as_a_saved_view():
    from deployments_ui.saved_views.services import clean_query

    query = clean_query("audit", "before=2026-11-30T12%3A00%3A00%2B00%3A00&hours=24&page=2")
    assert query == "before=2026-11-30T12%3A00%3A00%2B00%3A00&hours=24"
