"""Values every page needs: the console's name and which of its buttons the person may use.

What a button may show is asked of the access table (`accounts.access.URL_ACCESS`), the same
table the middleware enforces, through the URL the button leads to.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

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
        "menu": _menu(request, user),
    }


# The main menu: four groups, each link shown to whoever may open it. A link is the current
# page's when the page's URL name is among its names.
MENU = (
    (
        "Deployments",
        (
            ("All deployments", "deployment-list", ("deployment-list",)),
            ("Scheduled changes", "schedule-list", ("schedule-list",)),
            ("Calendar", "calendar", ("calendar",)),
            ("Bulk jobs", "job-list", ("job-list", "job-detail")),
        ),
    ),
    (
        "Changes",
        (
            ("Change requests", "change-list", ("change-list", "change-detail")),
            ("Freeze windows", "freeze-windows", ("freeze-windows",)),
            ("Change control", "change-control-settings", ("change-control-settings",)),
        ),
    ),
    ("Audit", (("Audit log", "audit-log", ("audit-log", "audit-event")),)),
    (
        "Settings",
        (
            ("Notifications", "notification-settings", ("notification-settings",)),
            ("Webhooks", "webhook-list", ("webhook-list", "webhook-detail")),
            ("My API key", "api-key", ("api-key",)),
            ("Service key", "service-key", ("service-key",)),
            ("Scheduler", "worker-status", ("worker-status",)),
        ),
    ),
)


def _menu(request: HttpRequest, user) -> list[dict]:
    if user is None or not user.is_authenticated:
        return []
    match = getattr(request, "resolver_match", None)
    here = match.url_name if match is not None else ""
    groups = []
    for name, links in MENU:
        items = [
            {"text": text, "url": reverse(url), "current": here in current}
            for text, url, current in links
            if access.may(user, url)
        ]
        if name == "Settings" and user.is_staff:
            admin = reverse("admin:index")
            items.append({"text": "Users and roles", "url": admin, "current": False})
        if items:
            groups.append({"name": name, "slug": name.lower(), "links": items})
    return groups


def _budget_degraded(user) -> bool:
    """Admins are told when the console runs without its shared store (Redis)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.has_perm("deployments_ui.manage_console")
        and budget.degraded()
    )
