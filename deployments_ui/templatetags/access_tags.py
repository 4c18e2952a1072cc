"""`{% if request.user|may:"deployment-enable" %}`: show a button only to those who may use it."""

from __future__ import annotations

from django import template

from deployments_ui.accounts import access

register = template.Library()


@register.filter
def may(user, url_name: str) -> bool:
    return access.may(user, url_name)
