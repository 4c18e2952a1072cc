"""Values every page needs: the console's name and which of its buttons the person may use.

What a button may show is asked of the access table (`accounts.access.URL_ACCESS`), the same
table the middleware enforces, through the URL the button leads to.
"""

from __future__ import annotations

from django.http import HttpRequest

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
    }


def _budget_degraded(user) -> bool:
    """Admins are told when the console runs without its shared store (Redis)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.has_perm("deployments_ui.manage_console")
        and budget.degraded()
    )
