"""The subscribable feed: made and shown once, stored hashed, read by a real ICS parser, revoked."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils import timezone

from deployments_ui.change_calendar.feeds import token_hash
from deployments_ui.change_calendar.models import CalendarFeed
from deployments_ui.models import AuditEvent
from tests.calendar.helpers import UK_TEST, once_freeze, open_request, scheduled, weekly_freeze

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def make_link(client, filters: str = "") -> str:
    response = client.post("/calendar/feed/", {"filters": filters})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    found = re.search(r'value="(https?://[^/"]+)(/calendar/feed\.ics\?key=cal_[\w-]+)"', page)
    assert found, "the page shows the link"
    assert f'href="webcal://{found.group(1).split("://")[1]}{found.group(2)}"' in page
    return found.group(1) + found.group(2)


def events_of(body: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return list(calendar.walk("VEVENT"))


@pytest.fixture
def signed_in(client, viewer):
    client.force_login(viewer)
    return client


def test_the_link_is_shown_once_and_only_its_hash_is_kept(signed_in, viewer):
    url = make_link(signed_in)
    token = url.split("?key=")[1]

    feed = CalendarFeed.objects.get()
    assert feed.user == viewer and feed.token_hash == token_hash(token)
    assert token not in str(list(CalendarFeed.objects.values()))
    page = signed_in.get("/calendar/").content.decode()
    assert token not in page
    assert "You have a calendar link" in page
    event = AuditEvent.objects.get(action="feed_made")
    assert event.user_id == viewer.pk and token not in str(event.after)


def test_the_feed_holds_scheduled_changes_and_freezes_with_their_time_zones(
    client, signed_in, ann, settings
):
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    change = scheduled(due, user=ann, until=due + timedelta(hours=4), reason="supplier window")
    open_request(ann, action="disable")
    weekly = weekly_freeze(
        start_day=4, start="18:00", end_day=0, end="06:00", zone="America/New_York"
    )
    once = once_freeze(datetime(2027, 3, 28, 0, 30, tzinfo=LONDON), hours=2, zone="Europe/London")
    url = make_link(signed_in)
    client.logout()

    assert url.startswith("https://console.example.com/calendar/feed.ics?key=cal_")
    response = client.get(url.removeprefix("https://console.example.com"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    events = {str(event["UID"]).split("@")[0]: event for event in calendar.walk("VEVENT")}
    assert set(events) == {f"scheduled-{change.pk}", f"freeze-{weekly.pk}", f"freeze-{once.pk}"}

    planned = events[f"scheduled-{change.pk}"]
    assert planned.start == due and planned.end == due + timedelta(hours=4)
    assert str(planned["SUMMARY"]).startswith("Disable Orders → Shopify version 3 in UK Live")
    assert str(planned["SUMMARY"]).endswith("(waiting for approval)")
    assert str(planned["STATUS"]) == "TENTATIVE"
    assert "Reason: supplier window" in str(planned["DESCRIPTION"])
    assert str(planned["URL"]) == f"https://console.example.com/schedules/#schedule-{change.pk}"

    repeating = events[f"freeze-{weekly.pk}"]
    assert repeating.start.tzinfo.key == "America/New_York"
    assert (repeating.start.weekday(), repeating.start.hour) == (4, 18)
    assert repeating.end - repeating.start == timedelta(hours=60)
    assert repeating["RRULE"]["FREQ"] == ["WEEKLY"]
    assert str(repeating["URL"]).startswith("https://console.example.com/calendar/?view=week")

    one_off = events[f"freeze-{once.pk}"]
    # 28 March 2027 is the night the UK moves to summer time: 00:30 GMT to 03:30 BST.
    assert one_off.start == datetime(2027, 3, 28, 0, 30, tzinfo=LONDON)
    assert one_off.end.astimezone(LONDON).hour == 3
    zones = {str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")}
    assert zones == {"America/New_York", "Europe/London"}


def test_the_feed_is_filtered_as_the_page_was(client, signed_in, ann):
    soon = timezone.now() + timedelta(days=1)
    scheduled(soon, user=ann)
    scheduled(soon, user=ann, deployment="202", flow="Stock levels", environment=UK_TEST)
    weekly_freeze(scope="live")
    url = make_link(signed_in, "environment=test&type=scheduled")

    events = events_of(client.get(url.removeprefix("http://testserver")).content)

    assert [str(event["SUMMARY"]) for event in events] == [
        "Disable Stock levels version 3 in UK Test (test)"
    ]


def test_a_revoked_or_unknown_link_is_a_bare_404(client, signed_in, viewer):
    url = make_link(signed_in).removeprefix("http://testserver")
    assert client.get(url).status_code == 200

    response = signed_in.post("/calendar/feed/revoke/", follow=True)
    assert "Your calendar link is revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="feed_revoked", user_id=viewer.pk).count() == 1
    client.logout()

    unknown = ["?key=cal_not-a-real-token", "?key=x", "?key=", ""]
    for address in [url, *(f"/calendar/feed.ics{query}" for query in unknown)]:
        gone = client.get(address)
        assert gone.status_code == 404
        assert gone.content == b"Not found.\n"


def test_a_new_link_replaces_the_old_one(client, signed_in):
    first = make_link(signed_in).removeprefix("http://testserver")
    second = make_link(signed_in).removeprefix("http://testserver")
    client.logout()
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert AuditEvent.objects.filter(action="feed_revoked").count() == 1


def test_a_person_who_may_no_longer_see_deployments_gets_nothing(client, signed_in, viewer):
    url = make_link(signed_in).removeprefix("http://testserver")
    viewer.groups.clear()
    client.logout()
    assert client.get(url).status_code == 404
    viewer.groups.clear()
    viewer.is_active = False
    viewer.save()
    assert client.get(url).status_code == 404


def test_reading_the_feed_is_noted_for_its_owner(client, signed_in):
    url = make_link(signed_in).removeprefix("http://testserver")
    assert "No calendar has read it yet" in signed_in.get("/calendar/").content.decode()
    client.get(url)
    assert "Your calendar last read it" in signed_in.get("/calendar/").content.decode()


def test_a_calendar_may_ask_with_head_first(client, signed_in):
    url = make_link(signed_in).removeprefix("http://testserver")
    client.logout()
    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405


def test_making_and_revoking_are_posts(signed_in):
    assert signed_in.get("/calendar/feed/").status_code == 405
    assert signed_in.get("/calendar/feed/revoke/").status_code == 405


def test_the_trail_says_it_in_words(signed_in, viewer):
    make_link(signed_in)
    make_link(signed_in, "environment=live&type=freeze")
    signed_in.post("/calendar/feed/revoke/")
    from deployments_ui.audit import describe

    sentences = [describe(event) for event in AuditEvent.objects.order_by("id")]
    assert sentences == [
        "Vera Viewer made a calendar feed link",
        "Vera Viewer revoked the calendar feed link",
        "Vera Viewer made a calendar feed link showing Freeze windows · Every live environment",
        "Vera Viewer revoked the calendar feed link",
    ]


def test_the_secret_stays_out_of_the_logs(client, signed_in, caplog):
    url = make_link(signed_in).removeprefix("http://testserver")
    token = url.split("?key=")[1]
    with caplog.at_level(logging.DEBUG):
        assert client.get(url).status_code == 200
        signed_in.post("/calendar/feed/revoke/")
        assert client.get(url).status_code == 404  # Django logs a 404 with its path
    assert "Not Found: /calendar/feed.ics" in caplog.text
    assert token not in caplog.text
