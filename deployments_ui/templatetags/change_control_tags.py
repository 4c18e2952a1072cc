"""Change control on the deployment pages: the freeze banner, and the requests still open."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import pgettext

from deployments_ui.changes.requests import open_requests
from deployments_ui.changes.rules import freeze_in_force, freezes_in_force, next_freeze
from deployments_ui.changes.summaries import summary_words

register = template.Library()
register.filter("summary_words", summary_words)
DEPLOYMENT_PAGES = {"deployment-list", "flow-version-deployment-list", "deployment-detail"}


@register.inclusion_tag("changes/_pending_requests.html")
def pending_requests(deployment) -> dict:
    """The open change requests for one deployment, linked."""
    deployment_id = str(getattr(deployment, "id", "") or "")
    requests = open_requests().filter(deployment_id=deployment_id) if deployment_id else []
    return {"pending": list(requests)}


@register.inclusion_tag("changes/_freeze_banner.html", takes_context=True)
def freeze_banner(context) -> dict:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name not in DEPLOYMENT_PAGES:
        return {}
    deployment = context.get("deployment")
    if deployment is not None:
        now = freeze_in_force(deployment)
        upcoming = None if now else next_freeze(deployment)
    else:
        in_force = freezes_in_force()
        now = in_force[0] if in_force else None
        upcoming = None if now else next_freeze()
    result: dict[str, Any] = {"freeze_now": now, "freeze_next": upcoming}
    if upcoming:
        zone = upcoming.window.zone
        shown = pgettext("a day and time (date format)", "D d M H:i")
        result["freeze_next_start"] = date_format(upcoming.starts_at.astimezone(zone), shown)
        result["freeze_next_end"] = date_format(upcoming.ends_at.astimezone(zone), shown)
    return result
