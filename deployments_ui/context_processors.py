"""Values every page needs: the console's name and version, and what the signed-in person may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from console import __version__


def console(request: HttpRequest) -> dict:
    user: Any = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        # django-htmx's {% htmx_script %} looks for the nonce under Django 6's name.
        "csp_nonce": getattr(request, "csp_nonce", None),
        "console_version": __version__,
        "can_view": signed_in and user.has_perm("deployments_ui.view_deployments"),
        "can_toggle": signed_in and user.has_perm("deployments_ui.toggle_deployments"),
        "can_change": signed_in and user.has_perm("deployments_ui.change_deployments"),
        "can_manage": signed_in and user.has_perm("deployments_ui.manage_console"),
    }
