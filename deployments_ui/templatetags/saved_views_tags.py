"""The saved-views menu on the deployments list and the audit log."""

from __future__ import annotations

from django import template

from deployments_ui.saved_views.services import saved_view_url, saved_views_visible

register = template.Library()


@register.inclusion_tag("saved_views/_menu.html", takes_context=True)
def saved_views_menu(context, page: str) -> dict:
    request = context["request"]
    user = request.user
    views = [
        {
            "id": view.pk,
            "name": view.name,
            "url": saved_view_url(view),
            "mine": view.owner_id == user.pk,
            "shared": view.shared,
            "owner": view.owner.get_full_name() or view.owner.get_username(),
        }
        for view in saved_views_visible(user=user, page=page)
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "page": page,
        "views": views,
        "query": query.urlencode(),
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
