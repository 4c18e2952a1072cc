from django import template

from deployments_ui.notifications import events

register = template.Library()


@register.filter
def filters_summary(rule) -> str:
    """A subscription's or webhook's filters in plain words."""
    return events.filters_summary(rule)
