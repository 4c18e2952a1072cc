"""Small formatting helpers for the deployment pages."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def when(value: datetime | None, empty: str = "—") -> str:
    """A <time> with relative wording; the exact time shows on hover."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.strftime("%d %b %Y, %H:%M %Z"),
        naturaltime(value),
    )


@register.filter
def priority_words(priority: int | None) -> str:
    if priority is None:
        return "inherits from the flow"
    return {1: "1 — highest", 3: "3 — normal", 5: "5 — lowest"}.get(priority, str(priority))
