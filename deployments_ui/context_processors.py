"""Values every page needs: the console's name and which of its buttons the person may use.

What a button may show is asked of the access table (`accounts.access.URL_ACCESS`), the same
table the middleware enforces, through the URL the button leads to.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from console import __version__
from deployments_ui.accounts import access
from deployments_ui.patchworks import budget

# The template flag, and the URL whose rule decides it.
BUTTONS = {
    "can_view": "deployment-list",
    "can_toggle": "deployment-enable",
    "can_change": "deployment-edit",
    "can_manage": "service-key",
}


def console(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        # django-htmx's {% htmx_script %} looks for the nonce under Django 6's name.
        "csp_nonce": getattr(request, "csp_nonce", None),
        "console_version": __version__,
        **{flag: user is not None and access.may(user, url) for flag, url in BUTTONS.items()},
        "budget_degraded": _budget_degraded(user),
        # Worked out only by a page that shows it (fragments answering htmx do not).
        "menu": SimpleLazyObject(lambda: _menu(request, user)),
    }


# The main menu: four groups (a slug for ids, a name), each link shown to whoever may open it.
# A link is the current page's when the page's URL name is among its names.
MENU = (
    (
        "deployments",
        _("Deployments"),
        (
            (_("All deployments"), "deployment-list", ("deployment-list",)),
            (_("Scheduled changes"), "schedule-list", ("schedule-list",)),
            (_("Calendar"), "calendar", ("calendar",)),
            (_("Bulk jobs"), "job-list", ("job-list", "job-detail")),
        ),
    ),
    (
        "changes",
        _("Changes"),
        (
            (_("Change requests"), "change-list", ("change-list", "change-detail")),
            (_("Freeze windows"), "freeze-windows", ("freeze-windows",)),
            (_("Change control"), "change-control-settings", ("change-control-settings",)),
        ),
    ),
    ("audit", _("Audit"), ((_("Audit log"), "audit-log", ("audit-log", "audit-event")),)),
    (
        "settings",
        _("Settings"),
        (
            (_("Notifications"), "notification-settings", ("notification-settings",)),
            (_("Webhooks"), "webhook-list", ("webhook-list", "webhook-detail")),
            (_("My API key"), "api-key", ("api-key",)),
            (_("My API tokens"), "api-tokens", ("api-tokens", "api-token-revoke")),
            (_("Service key"), "service-key", ("service-key",)),
            (_("Roles by place"), "people-list", ("people-list", "person-roles")),
            (_("Scheduler"), "worker-status", ("worker-status",)),
        ),
    ),
)


def _menu(request: HttpRequest, user) -> list[dict]:
    if user is None or not user.is_authenticated:
        return []
    match = getattr(request, "resolver_match", None)
    here = match.url_name if match is not None else ""
    groups = []
    for slug, name, links in MENU:
        items = [
            {"text": text, "url": reverse(url), "current": here in current}
            for text, url, current in links
            if access.may(user, url)
        ]
        if slug == "settings" and user.is_staff:
            admin = reverse("admin:index")
            items.append({"text": _("Users and roles"), "url": admin, "current": False})
        if items:
            groups.append({"name": name, "slug": slug, "links": items})
    return groups


def _budget_degraded(user) -> bool:
    """Admins are told when the console runs without its shared store (Redis)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.has_perm("deployments_ui.manage_console")
        and budget.degraded()
    )
