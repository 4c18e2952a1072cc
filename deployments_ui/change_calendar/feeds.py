"""Each person's subscribable calendar link: made, found, revoked, and its ICS text.

The link carries a random token; only its SHA-256 is stored, so the link is shown once, when
made, and a leaked database gives no working link. A person has at most one link at a time:
making a new one revokes the old. The feed holds what is planned (scheduled changes and
freeze windows), filtered as the calendar page was when the link was made. Making and revoking
are audited as events about the person's account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import icalendar
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.change_calendar import services
from deployments_ui.change_calendar.models import CalendarFeed
from deployments_ui.change_calendar.services import Filters
from deployments_ui.changes.models import FreezeWindow
from deployments_ui.schedules.models import ScheduledChange

TOKEN_PREFIX = "cal_"
FEED_MADE = AuditEvent.Action.FEED_MADE
FEED_REVOKED = AuditEvent.Action.FEED_REVOKED
# What a subscribed calendar is sent: a week back (so a change just made stays visible) and a
# year ahead for scheduled changes; one-off freezes that ended in the last month.
SCHEDULED_BACK = timedelta(days=7)
SCHEDULED_AHEAD = timedelta(days=365)
FREEZES_BACK = timedelta(days=30)
# A scheduled enable or disable is a moment; calendars show it better with a short length.
MOMENT = timedelta(minutes=15)
VIEW_PERMISSION = "deployments_ui.view_deployments"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def active_feed(user: User) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).first()


@transaction.atomic
def feed_make(*, user: User, actor: Actor, query: str, filters_text: str) -> str:
    """A new link for `user` with the page's filters (`query`); returns its token, to be shown
    once. Any link the person had is revoked. Raises AuditUnavailable (and makes nothing)."""
    _revoke_all(user, actor)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=user, token_hash=token_hash(token), query=query)
    audit.record_account(
        actor=actor,
        action=FEED_MADE,
        account=user.get_username(),
        after={"feed": feed.pk, "filters": filters_text},
    )
    return token


@transaction.atomic
def feed_revoke(*, user: User, actor: Actor) -> int:
    """Revoke the person's link; returns how many were revoked (0 when there was none)."""
    return _revoke_all(user, actor)


def _revoke_all(user: User, actor: Actor) -> int:
    revoked = 0
    for feed in CalendarFeed.objects.select_for_update().filter(user=user, revoked_at__isnull=True):
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit.record_account(
            actor=actor, action=FEED_REVOKED, account=user.get_username(), after={"feed": feed.pk}
        )
        revoked += 1
    return revoked


def feed_for_token(token: str) -> CalendarFeed | None:
    """The active link with this token, whose person may still see deployments; else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not feed.user.is_active or not feed.user.has_perm(VIEW_PERMISSION):
        return None
    return feed


def note_read(feed: CalendarFeed, now: datetime | None = None) -> None:
    CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=now or timezone.now())


# The ICS text


def ics_text(filters: Filters, *, base_url: str, now: datetime | None = None) -> bytes:
    """The feed's calendar: scheduled changes and freeze windows passing `filters`.

    Every event links back to the console at `base_url` (CONSOLE_BASE_URL, else the address the
    calendar asked). Freeze windows keep their own time zone (with its VTIMEZONE), and a weekly
    window is one event that repeats, so calendars follow its daylight-saving changes.
    """
    now = now or timezone.now()
    feed = icalendar.Calendar()
    feed.add("prodid", "-//Deployments Console//Change calendar//EN")
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("x-wr-calname", "Deployments: scheduled changes and freezes")
    feed.add("x-published-ttl", timedelta(hours=1))
    host = urlsplit(base_url).hostname or "deployments-console"
    changes = services.scheduled_changes(filters, now - SCHEDULED_BACK, now + SCHEDULED_AHEAD)
    states = services.approval_states(changes)
    for change in changes:
        feed.add_component(_scheduled_event(change, states, base_url, host, now))
    for window in services.freeze_windows(filters):
        event = _freeze_event(window, base_url, host, now)
        if event is not None:
            feed.add_component(event)
    feed.add_missing_timezones()
    return feed.to_ical()


def _scheduled_event(
    change: ScheduledChange,
    states: dict[tuple[str, str], str],
    base_url: str,
    host: str,
    now: datetime,
) -> icalendar.Event:
    state = states.get((change.deployment_id, change.action), "")
    event = icalendar.Event()
    event.add("uid", f"scheduled-{change.pk}@{host}")
    event.add("dtstamp", now)
    event.add("dtstart", change.due_at)
    ends = change.until if change.until and change.until > change.due_at else None
    event.add("dtend", ends or change.due_at + MOMENT)
    waiting = state == "waiting for approval"
    summary = services.scheduled_text(change).split(" — ")[0]
    event.add("summary", f"{summary} (waiting for approval)" if waiting else summary)
    link = f"{base_url}{reverse('schedule-list')}#schedule-{change.pk}"
    lines = [
        services.scheduled_text(change) + ".",
        f"Reason: {change.reason}" if change.reason else "",
        f"Change request: {state}." if state else "",
        f"In the Deployments Console: {link}",
    ]
    event.add("description", "\n".join(line for line in lines if line))
    event.add("url", link)
    event.add("status", "TENTATIVE" if waiting else "CONFIRMED")
    event.add("categories", ["Scheduled change"])
    event.add("transp", "TRANSPARENT")
    return event


def _freeze_event(
    window: FreezeWindow, base_url: str, host: str, now: datetime
) -> icalendar.Event | None:
    zone = window.zone
    try:
        if window.kind == FreezeWindow.Kind.ONCE:
            if not (window.starts_at and window.ends_at) or window.ends_at < now - FREEZES_BACK:
                return None
            start, end = window.starts_at, window.ends_at
        else:
            start, end = _first_weekly(window, now)
    except ValueError:
        return None  # a weekly window without its days: the form never saves one
    event = icalendar.Event()
    event.add("uid", f"freeze-{window.pk}@{host}")
    event.add("dtstamp", now)
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    if window.kind == FreezeWindow.Kind.WEEKLY:
        event.add("rrule", {"freq": "weekly"})
    event.add("summary", services.freeze_text(window))
    query = urlencode({"view": "week", "date": start.astimezone(zone).date().isoformat()})
    link = f"{base_url}{reverse('calendar')}?{query}"
    lines = [
        f"{services.freeze_text(window)}: {window.when_text}.",
        "Changes there are refused while it lasts (an Admin may override with a reason).",
        f"In the Deployments Console: {link}",
    ]
    event.add("description", "\n".join(lines))
    event.add("url", link)
    event.add("categories", ["Freeze window"])
    event.add("transp", "OPAQUE")
    return event


def _first_weekly(window: FreezeWindow, now: datetime) -> tuple[datetime, datetime]:
    """The occurrence in force now, else the next one: the repeating event's first."""
    current = window.occurrence_at(now)
    if current is not None:
        return current
    following = window.next_occurrence(now)
    if following is None:  # weekly windows always have a next occurrence
        raise ValueError(f"Freeze window {window.pk} has no next occurrence")
    return following


def console_base_url(request_base: str) -> str:
    """CONSOLE_BASE_URL when set, else the address the request came to (no trailing slash)."""
    return (settings.CONSOLE_BASE_URL or request_base).rstrip("/")
