"""How pages print times, priorities and deployment URLs.

They run for every row of a 100-row list, so they avoid the template engine's slower paths:
relative times are translated once per language, unit and count (then cached), and each URL
pattern is reversed only once.
`templatetags/console_tags.py` registers them for templates.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS, MONTHS_3
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext, ngettext, pgettext

from deployments_ui.core.vocabulary import INHERITED_PRIORITY, PRIORITY_LABELS

UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)
UNIT_WORDS = {
    "year": lambda n: ngettext("%(count)d year", "%(count)d years", n),
    "month": lambda n: ngettext("%(count)d month", "%(count)d months", n),
    "day": lambda n: ngettext("%(count)d day", "%(count)d days", n),
    "hour": lambda n: ngettext("%(count)d hour", "%(count)d hours", n),
    "minute": lambda n: ngettext("%(count)d minute", "%(count)d minutes", n),
}
DEPLOYMENT_URL_NAMES = (
    "deployment-detail",
    "deployment-schedule",
    "deployment-edit",
    "deployment-delete",
    "deployment-enable",
    "deployment-disable",
)


def relative_time(value: datetime, now: datetime, language: str | None = None) -> str:
    """'3 hours ago', '1 day, 2 hours ago', 'in 5 minutes', 'just now' (in `language`: the
    active one, which the caller may have looked up already)."""
    language = language or get_language()
    seconds = int((now - value).total_seconds())
    ahead, seconds = seconds < 0, abs(seconds)
    for index, (name, size) in enumerate(UNITS):
        count = seconds // size
        if not count:
            continue
        words = _unit(count, name, language)
        if index + 1 < len(UNITS):
            next_name, next_size = UNITS[index + 1]
            rest = (seconds - count * size) // next_size
            if rest:
                words += ", " + _unit(rest, next_name, language)
        return _phrase("in" if ahead else "ago", language) % {"time": words}
    return _phrase("now", language)


@functools.lru_cache(maxsize=4096)
def _unit(count: int, name: str, language: str | None) -> str:
    return UNIT_WORDS[name](count) % {"count": count}


@functools.lru_cache(maxsize=64)
def _phrase(which: str, language: str | None) -> str:
    phrases = {
        "in": gettext("in %(time)s"),
        "ago": gettext("%(time)s ago"),
        "now": gettext("just now"),
    }
    return phrases[which]


@functools.lru_cache(maxsize=64)
def _month(number: int, language: str | None) -> str:
    return capfirst(str(MONTHS_3[number]))


@functools.lru_cache(maxsize=64)
def _month_name(number: int, language: str | None) -> str:
    return capfirst(str(MONTHS[number]))


@functools.lru_cache(maxsize=16)
def _exact_pattern(language: str | None) -> str:
    """The order of an exact time's parts in the reader's language (German: '7. Dezember 2026,
    14:02 CET'): {day} (7), {day2} (07), {month} (Dec), {month_name} (December), {year},
    {time} and {zone}."""
    return pgettext(
        "an exact time; keep the names in braces", "{day2} {month} {year}, {time} {zone}"
    )


def exact_time(value: datetime, zone: tzinfo, language: str | None = None) -> str:
    """'07 Dec 2026, 09:30 CET' ('7. Dezember 2026, 09:30 CET' in German): the parts in the
    reader's order, the month in their language."""
    local = value.astimezone(zone)
    language = language or get_language()
    return _exact_pattern(language).format(
        day=local.day,
        day2=f"{local:%d}",
        month=_month(local.month, language),
        month_name=_month_name(local.month, language),
        year=local.year,
        time=f"{local:%H:%M}",
        zone=f"{local:%Z}",
    )


def page_clock() -> tuple[datetime, tzinfo]:
    """The time now and the person's time zone, looked up once for a page's many `when`s."""
    return timezone.now(), timezone.get_current_timezone()


def when(
    value: datetime | None, empty: str = "—", clock: tuple[datetime, tzinfo] | None = None
) -> str:
    """A <time> with relative wording; the exact time shows on hover."""
    if value is None:
        return empty
    now, zone = clock or page_clock()
    language = get_language()
    exact = exact_time(value, zone, language)
    words = relative_time(value, now, language)
    return mark_safe(f'<time datetime="{value.isoformat()}" title="{exact}">{words}</time>')  # noqa: S308


def priority_words(priority: int | None) -> str:
    if priority is None:
        return gettext(INHERITED_PRIORITY)
    return gettext(PRIORITY_LABELS[priority]) if priority in PRIORITY_LABELS else str(priority)


@functools.cache
def _url_pattern(name: str) -> str:
    return reverse(name, kwargs={"flow_version": "FLOWVERSION", "deployment": "DEPLOYMENT"})


def deployment_url(deployment, name: str) -> SafeString:
    """The URL named `name` for this deployment, without resolving the pattern each time."""
    if name not in DEPLOYMENT_URL_NAMES:
        raise ValueError(f"not a deployment URL: {name}")
    url = _url_pattern(name).replace("FLOWVERSION", quote(deployment.flow_version_id, safe=""))
    return mark_safe(url.replace("DEPLOYMENT", quote(deployment.id, safe="")))  # noqa: S308


def deployment_urls(deployment, names: tuple[str, ...]) -> dict[str, SafeString]:
    """These URLs (of `DEPLOYMENT_URL_NAMES`) for this deployment, its ids quoted once."""
    flow_version = quote(deployment.flow_version_id, safe="")
    own = quote(deployment.id, safe="")
    return {
        name: mark_safe(  # noqa: S308
            _url_pattern(name).replace("FLOWVERSION", flow_version).replace("DEPLOYMENT", own)
        )
        for name in names
    }


def toggle_url(deployment) -> SafeString:
    """Where the Enable or Disable button posts, whichever the deployment's state offers."""
    return deployment_url(
        deployment, "deployment-disable" if deployment.is_enabled else "deployment-enable"
    )


def flow_version_url(deployment) -> SafeString:
    """The list of deployments of this deployment's flow version."""
    pattern = _flow_version_pattern()
    return mark_safe(pattern.replace("FLOWVERSION", quote(deployment.flow_version_id, safe="")))  # noqa: S308


@functools.cache
def _flow_version_pattern() -> str:
    return reverse("flow-version-deployment-list", kwargs={"flow_version": "FLOWVERSION"})
