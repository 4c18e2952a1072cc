"""Flow health in plain words, and the sentence that ties it to the last change.

Times are in the reader's time zone: Django's current one unless `tz` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop, ngettext

from deployments_ui.flow_health.health import Health, Kind


@dataclass(frozen=True, slots=True)
class LastChange:
    """The last change to a deployment, as plain values (the audit trail's, or any other).

    `verb` is what they did, worded to follow their name: "disabled it", "changed its priority".
    """

    who: str
    verb: str
    when: datetime
    reason: str = ""


CHANGE_VERBS = {
    "enable": gettext_noop("enabled it"),
    "disable": gettext_noop("disabled it"),
    "create": gettext_noop("created it"),
}


def change_verb(action: str, before: object = None, after: object = None) -> str:
    """A recorded change worded to follow its author's name: "disabled it", "changed its
    priority" (`before` and `after`: the recorded values, for an update), in the reader's
    language."""
    if action != "update":
        return gettext(CHANGE_VERBS.get(action, gettext_noop("changed it")))
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    if old.get("virtual_environment_id") != new.get("virtual_environment_id"):
        return gettext("moved it to another environment")
    if old.get("priority") != new.get("priority"):
        return gettext("changed its priority")
    return gettext("changed it")


# Times ----------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def clock(moment: datetime, *, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """ "14:02" today, "yesterday at 14:02", else "Sat 5 Dec at 14:02" (the reader's zone)."""
    zone = tz or timezone.get_current_timezone()
    local, today = moment.astimezone(zone), _now(now).astimezone(zone).date()
    time = local.strftime("%H:%M")
    if local.date() == today:
        return time
    if (today - local.date()).days == 1:
        return gettext("yesterday at %(time)s") % {"time": time}
    day = date_format(local, gettext("D j M"))  # the reader's names and order
    return gettext("%(day)s at %(time)s") % {"day": day, "time": time}


def span(delta: timedelta) -> str:
    """ "3 minutes", "2 hours", "4 days" (rounded down; under a minute: "less than a minute"),
    in the reader's language."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return gettext("less than a minute")
    for size, unit in ((24 * 60, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size * (2 if unit == "day" else 1):
            count = minutes // size
            return _UNITS[unit](count) % {"count": count}
    return _UNITS["minute"](minutes) % {"count": minutes}


_UNITS = {
    "day": lambda n: ngettext("%(count)d day", "%(count)d days", n),
    "hour": lambda n: ngettext("%(count)d hour", "%(count)d hours", n),
    "minute": lambda n: ngettext("%(count)d minute", "%(count)d minutes", n),
}


def ago(moment: datetime, *, now: datetime | None = None) -> str:
    delta = _now(now) - moment
    if delta < timedelta(minutes=1):
        return gettext("just now")
    return gettext("%(span)s ago") % {"span": span(delta)}


# Health alone ---------------------------------------------------------------------------------


def describe(health: Health, *, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """ "Running fine", "Failing since 14:02", "Not run since 12:00", "No recent runs seen"."""
    since = clock(health.since, now=now, tz=tz) if health.since else ""
    if health.kind == Kind.FINE:
        text = gettext("Running fine") if health.counts.succeeded else gettext("Running now")
    elif health.kind == Kind.FAILING:
        text = gettext("Failing since %(time)s") % {"time": since} if since else gettext("Failing")
    elif health.kind == Kind.NOT_RUN:
        if since:
            text = gettext("Not run since %(time)s") % {"time": since}
        else:
            text = (
                gettext("Not running (switched off)")
                if not health.enabled
                else gettext("Not run lately")
            )
    else:
        text = gettext("No recent runs seen")
    if health.shared and health.kind in (Kind.FINE, Kind.FAILING):
        text += gettext(" (runs of this version in all its environments)")
    return text


# Health and the last change -------------------------------------------------------------------


def explain(
    health: Health | None,
    last_change: LastChange | None,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> str:
    """One sentence: the health, tied to the last change when the change plausibly explains it.

    "Not run since Ann Smith disabled it 2 hours ago: supplier outage"
    "Failing since 14:02, 3 minutes after Bob Jones changed its priority"
    Nothing ("") when runs could not be read.
    """
    if health is None:
        return ""
    plain = describe(health, now=now, tz=tz)
    if last_change is None or health.shared:
        return plain
    change = last_change
    related = timedelta(minutes=settings.CONSOLE_FLOW_HEALTH_RELATED_MINUTES)
    words = {"health": plain, "who": change.who, "verb": change.verb}
    if health.kind == Kind.NOT_RUN and (health.since is None or change.when >= health.since):
        words |= {"ago": ago(change.when, now=now), "reason": change.reason.strip()}
        if words["reason"]:
            return gettext("Not run since %(who)s %(verb)s %(ago)s: %(reason)s") % words
        return gettext("Not run since %(who)s %(verb)s %(ago)s") % words
    if health.kind == Kind.FAILING and health.since is not None:
        gap = health.since - change.when
        if timedelta(0) <= gap <= related:
            return gettext("%(health)s, %(span)s after %(who)s %(verb)s") % (
                words | {"span": span(gap)}
            )
        if gap < timedelta(0):
            when = clock(change.when, now=now, tz=tz)
            return gettext("%(health)s, and still after %(who)s %(verb)s at %(when)s") % (
                words | {"when": when}
            )
    if health.kind == Kind.FINE and _fixed_by(health, change, related, now):
        words["ago"] = ago(change.when, now=now)
        return gettext("Running fine since %(who)s %(verb)s %(ago)s") % words
    return plain


def _fixed_by(health: Health, change: LastChange, related: timedelta, now: datetime | None) -> bool:
    """Whether the flow came back to health after this (recent) change."""
    if health.last_failure is None or health.last_failure.started_at is None:
        return False
    recent = _now(now) - change.when <= related
    return recent and change.when >= health.last_failure.started_at
