"""The change calendar: the page, its feed link (made, revoked) and the feed itself.

The page and the feed links are for everyone who may see deployments (URL_ACCESS); the feed
(`calendar-ics`) is fetched by calendar programs without a session, so it is open to anyone
who has its secret link, and answers a bare 404 to any other.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST, require_safe

from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.change_calendar import feeds, services
from deployments_ui.change_calendar.forms import CalendarForm
from deployments_ui.core.http import SignedInRequest

NOT_FOUND = "Not found.\n"
# A day of a month or week shows its first few entries and links to the day for the rest.
CELL_LIMITS = {"month": 4, "week": 12}


@require_GET
def calendar_page(request: SignedInRequest) -> TemplateResponse:
    form = CalendarForm(request.GET)
    period = services.calendar_period(
        view=form.view_name,
        anchor=form.day,
        filters=form.filters(),
        per_day=CELL_LIMITS.get(form.view_name),
    )
    feed = feeds.active_feed(request.user)
    context = {
        "form": form,
        "period": period,
        "past_limit": services.PAST_LIMIT,
        "active_count": form.active_count,
        "today": timezone.localdate(),
        "now": timezone.now(),
        "zone_name": str(timezone.get_current_timezone()),
        "filter_query": form.filter_query(),
        "filters_text": form.filters_text(),
        "feed": feed,
        "feed_filters_text": CalendarForm(QueryDict(feed.query)).filters_text() if feed else "",
    }
    return TemplateResponse(request, "calendar/calendar.html", context)


def stored_words(words) -> str:
    """What the audit trail records is worded in the console's own language."""
    with translation.override(settings.LANGUAGE_CODE):
        return words()


@require_POST
def calendar_feed_make(request: SignedInRequest) -> HttpResponse:
    """Make the person's feed link with the page's filters; the one page that shows it."""
    form = CalendarForm(QueryDict(request.POST.get("filters", "")))
    try:
        token = feeds.feed_make(
            user=request.user,
            actor=Actor.from_request(request),
            query=form.filter_query(),
            filters_text=stored_words(form.filters_text),
        )
    except AuditUnavailable:
        messages.error(
            request, gettext("The link could not be made just now. Try again in a minute.")
        )
        return redirect("calendar")
    base = feeds.console_base_url(request.build_absolute_uri("/"))
    url = f"{base}{reverse('calendar-ics')}?{urlencode({'key': token})}"
    context = {
        "url": url,
        "webcal_url": "webcal://" + url.split("://", 1)[-1],
        "filters_text": form.filters_text(),
    }
    response = TemplateResponse(request, "calendar/feed_made.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def calendar_feed_revoke(request: SignedInRequest) -> HttpResponse:
    try:
        revoked = feeds.feed_revoke(user=request.user, actor=Actor.from_request(request))
    except AuditUnavailable:
        messages.error(
            request, gettext("The link could not be revoked just now. Try again in a minute.")
        )
        return redirect("calendar")
    if revoked:
        messages.success(
            request, gettext("Your calendar link is revoked: calendars using it get nothing more.")
        )
    else:
        messages.info(request, gettext("You had no calendar link to revoke."))
    return redirect("calendar")


@require_safe  # some calendar programs ask with HEAD before they GET
def calendar_ics(request: HttpRequest) -> HttpResponse:
    feed = feeds.feed_for_token(request.GET.get("key", ""))
    if feed is None:
        return HttpResponseNotFound(NOT_FOUND, content_type="text/plain; charset=utf-8")
    form = CalendarForm(QueryDict(feed.query))
    base = feeds.console_base_url(request.build_absolute_uri("/"))
    body = feeds.ics_text(form.filters(), base_url=base)
    feeds.note_read(feed)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="deployments.ics"'
    response["Cache-Control"] = "private, no-cache"
    return response
