"""The calendar page: the three kinds of entry, the filters, the views and their links."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import responses
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.core.identity import DeploymentRef
from tests.calendar.helpers import UK_TEST, once_freeze, open_request, scheduled, weekly_freeze
from tests.factories import TARGET, actor_for, console_disable

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
TEST_TARGET = DeploymentRef(
    deployment_id="202",
    flow_version_id="12",
    flow_id="4",
    flow_name="Stock levels",
    environment_id="3",
    environment_name="UK Test",
    environment_type="test",
)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def signed_in(client, viewer):
    client.force_login(viewer)
    client.cookies["console_tz"] = "Europe/Paris"
    return client


def today_iso() -> str:
    return timezone.now().astimezone(PARIS).date().isoformat()


def test_a_week_shows_past_changes_scheduled_changes_and_freezes(signed_in, ann):
    console_disable(actor_for(ann), reason="supplier outage")
    audit.record_external(
        action="enable", target=TARGET, before=None, after=None, actor_name="Dana Dashboard"
    )
    scheduled(timezone.now() + timedelta(minutes=30), user=ann, reason="night batch")
    once_freeze(timezone.now() - timedelta(minutes=10), description="CHG-42 release")

    response = signed_in.get(f"/calendar/?view=week&date={today_iso()}")

    assert response.status_code == 200
    page = text_of(response)
    assert (
        "Ann Smith disabled Orders → Shopify version 3 in UK Live (live) — "
        "reason: supplier outage" in page
    )
    assert "Dana Dashboard enabled Orders → Shopify" in page
    assert "Outside change" in page
    assert "Disable Orders → Shopify version 3 in UK Live (live) — asked by Ann Smith" in page
    assert "Reason: night batch" in page
    assert "Changes frozen in every environment (CHG-42 release)" in page
    assert "Times are in <strong>Europe/Paris</strong>" in page


def test_times_are_in_the_readers_time_zone_and_freezes_in_their_own_too(client, viewer):
    client.force_login(viewer)
    client.cookies["console_tz"] = "America/New_York"
    start = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/London"))
    once_freeze(start, hours=2)

    page = text_of(client.get("/calendar/?view=day&date=2026-07-01"))

    # 12:00 in London is 07:00 in New York (both on summer time).
    assert "07:00–09:00" in page
    assert "(12:00–14:00 Europe/London)" in page


def test_a_scheduled_change_waiting_for_approval_says_so(signed_in, ann, operator):
    scheduled(timezone.now() + timedelta(hours=1), user=ann, action="disable")
    scheduled(
        timezone.now() + timedelta(hours=2),
        user=ann,
        action="enable",
        deployment="202",
        environment=UK_TEST,
    )
    open_request(operator, action="disable", deployment="101")
    # A request for another action does not hold this change up.
    open_request(operator, action="disable", deployment="202")

    page = text_of(signed_in.get(f"/calendar/?view=week&date={today_iso()}"))

    assert page.count("Waiting for approval") == 1
    waiting = page.index("Waiting for approval")
    assert page.rfind("Disable Orders → Shopify", 0, waiting) > page.rfind("Enable ", 0, waiting)


def test_weekly_freezes_repeat_on_their_days_in_a_month(signed_in):
    weekly_freeze(start_day=4, start="18:00", end_day=0, end="06:00")  # Fri 18:00 to Mon 06:00

    page = text_of(signed_in.get("/calendar/?view=month&date=2026-12-01"))

    # Fridays in December 2026: 4, 11, 18, 25 (and the one in the grid's last row, Jan 1).
    assert page.count("Changes frozen in every live environment (weekend freeze)") >= 4 * 4
    # Paris is an hour ahead of London in winter.
    assert "from 19:00" in page and "until 07:00" in page and "all day" in page


def test_filters_narrow_by_environment_flow_person_and_type(signed_in, ann, operator):
    console_disable(actor_for(ann))
    console_disable(actor_for(operator, sso_identity=""), target=TEST_TARGET)
    scheduled(timezone.now() + timedelta(hours=1), user=ann, environment=UK_TEST)
    weekly_freeze(scope="live")
    url = f"/calendar/?view=week&date={today_iso()}"

    by_environment = text_of(signed_in.get(f"{url}&environment=3"))
    assert "Oscar Operator disabled Stock levels" in by_environment
    assert "Ann Smith disabled" not in by_environment
    assert "asked by Ann Smith" in by_environment
    assert "every live environment" not in by_environment

    live = text_of(signed_in.get(f"{url}&environment=live"))
    assert "Ann Smith disabled" in live and "every live environment" in live
    assert "Stock levels" not in live

    by_flow = text_of(signed_in.get(f"{url}&flow=stock"))
    assert "Stock levels" in by_flow and "Ann Smith disabled" not in by_flow

    by_person = text_of(signed_in.get(f"{url}&person=oscar"))
    assert "Oscar Operator disabled" in by_person
    assert "Ann Smith" not in by_person.split("In your own calendar")[0].split("period-title")[1]

    only_planned = text_of(signed_in.get(f"{url}&type=scheduled&type=freeze"))
    assert "disabled Orders" not in only_planned and "disabled Stock levels" not in only_planned
    assert "asked by Ann Smith" in only_planned and "every live environment" in only_planned


def test_refusals_are_not_changes(signed_in, ann):
    console_disable(actor_for(ann), outcome=None)
    audit.record_refusal(
        actor=actor_for(ann), action="enable", target=TARGET, message="Already enabled."
    )
    page = text_of(signed_in.get(f"/calendar/?view=day&date={today_iso()}"))
    assert "tried to enable" not in page
    assert "may have disabled" in page or "no outcome recorded" in page


def test_navigation_is_plain_links_keeping_the_filters(signed_in):
    response = signed_in.get("/calendar/?view=week&date=2026-12-09&flow=orders&type=freeze")
    page = response.content.decode()
    assert "Week of 7 December 2026 to 13 December 2026" in page
    assert (
        'href="?view=week&amp;date=2026-11-30&amp;flow=orders&amp;type=freeze" rel="prev"' in page
    )
    assert (
        'href="?view=week&amp;date=2026-12-14&amp;flow=orders&amp;type=freeze" rel="next"' in page
    )
    assert 'href="?view=month&amp;date=2026-12-09&amp;flow=orders&amp;type=freeze"' in page
    assert f'date={today_iso()}&amp;flow=orders&amp;type=freeze">Today</a>' in page


def test_the_day_view_links_each_past_hour_to_what_changed_before_it(signed_in):
    page = signed_in.get("/calendar/?view=day&date=2026-03-05").content.decode()
    assert page.count("What changed before") == 24
    assert '/audit/?before=2026-03-05T14%3A00%3A00%2B01%3A00">What changed before 14:00?' in page


def test_the_month_view_shows_a_few_entries_a_day_and_links_to_the_rest(signed_in, ann):
    for _ in range(6):
        console_disable(actor_for(ann))
    page = text_of(signed_in.get(f"/calendar/?view=month&date={today_iso()}"))
    assert "2 more on this day" in page


def test_nonsense_in_the_query_falls_back_to_defaults(signed_in):
    response = signed_in.get("/calendar/?view=year&date=someday&environment=nowhere&type=x")
    assert response.status_code == 200
    page = text_of(response)
    assert "Some filters were not understood" in page
    assert "Week of" in page


def test_the_menu_links_to_the_calendar(signed_in):
    page = signed_in.get("/deployments/", follow=True).content.decode()
    assert '<a href="/calendar/"' in page


def test_the_page_asks_patchworks_nothing(signed_in, ann):
    console_disable(actor_for(ann))
    scheduled(timezone.now() + timedelta(hours=1), user=ann)
    weekly_freeze()
    with responses.RequestsMock() as upstream:  # any request would fail: none is registered
        for view in ("day", "week", "month"):
            assert signed_in.get(f"/calendar/?view={view}").status_code == 200
        assert len(upstream.calls) == 0
