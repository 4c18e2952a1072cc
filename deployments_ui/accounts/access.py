"""Who may use each URL: the one table, and the middleware that enforces it for every request.

Default deny: a URL whose name is not in `URL_ACCESS` answers 403 to everyone, so a new page
stays shut until someone decides who may use it (tests/accounts/test_access.py fails until they do).
Django's admin (namespace "admin") is for staff only, and its own permission checks apply
on top. Pages ask the same table which buttons to show (`context_processors.console`: `can_view`,
`can_toggle`, `can_change`, `can_manage`).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django.utils.translation import gettext, pgettext
from django_htmx.http import HttpResponseClientRedirect

from deployments_ui.accounts import scopes
from deployments_ui.audit import Actor, AuditUnavailable, record_refusal
from deployments_ui.core.http import ConsoleRequest
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.words import later

logger = logging.getLogger(__name__)

PUBLIC = "public"
AUTHENTICATED = "authenticated"
STAFF = "staff"
APP = "deployments_ui"

URL_ACCESS: dict[str, str] = {
    "login": PUBLIC,
    # Public so that signing out of an expired session does not bounce through the login page.
    "logout": PUBLIC,
    "healthz": PUBLIC,
    # The menu's language switch (a cookie; the sign-in page offers it too).
    "set-language": PUBLIC,
    # OpenID Connect: the way to the provider and back happens before anyone is signed in.
    "oidc-start": PUBLIC,
    "oidc-callback": PUBLIC,
    # SCIM: the identity provider, with its bearer token (checked by the views), no session.
    "scim-users": PUBLIC,
    "scim-user": PUBLIC,
    "scim-groups": PUBLIC,
    "scim-group": PUBLIC,
    "scim-config": PUBLIC,
    "readyz": PUBLIC,
    "home": AUTHENTICATED,
    "api-key": AUTHENTICATED,
    "service-key": "manage_console",
    # Personal API tokens: for those who may see deployments (the API needs that much); the
    # view lets an owner revoke their own, an Admin anyone's. Admins list everyone's.
    "api-tokens": "view_deployments",
    "api-token-revoke": "view_deployments",
    "api-token-list": "manage_console",
    "deployment-list": "view_deployments",
    "flow-version-deployment-list": "view_deployments",
    "deployment-detail": "view_deployments",
    "picker-flow-versions": "view_deployments",
    "audit-log": "view_deployments",
    "audit-export": "view_deployments",
    "audit-event": "view_deployments",
    # Undo is a change like any other: the write path checks the kind of change and its scope.
    "audit-undo": "toggle_deployments",
    "calendar": "view_deployments",
    "calendar-feed": "view_deployments",
    "calendar-feed-revoke": "view_deployments",
    # Calendar programs fetch the feed without a session: its secret link is the key, and the
    # view answers a bare 404 to a link that is unknown, revoked or whose person may not see it.
    "calendar-ics": PUBLIC,
    # Saved views belong to the lists they filter; the views check who owns each one.
    "saved-view-create": "view_deployments",
    "saved-view-rename": "view_deployments",
    "saved-view-delete": "view_deployments",
    "deployment-enable": "toggle_deployments",
    "deployment-disable": "toggle_deployments",
    "deployment-create": "change_deployments",
    "deployment-edit": "change_deployments",
    "deployment-delete": "change_deployments",
    "schedule-list": "view_deployments",
    "deployment-schedule": "toggle_deployments",
    # Operators move and cancel their own changes, Editors anyone's (checked per change).
    "schedule-cancel": "toggle_deployments",
    "schedule-move": "toggle_deployments",
    "worker-status": "manage_console",
    # Change control: everyone who may see deployments sees the requests; whoever may make a
    # change may ask, approve, decline or apply (the service checks the kind of change).
    "change-list": "view_deployments",
    "change-detail": "view_deployments",
    "change-approve": "toggle_deployments",
    "change-decline": "toggle_deployments",
    "change-apply": "toggle_deployments",
    "change-edit": "toggle_deployments",
    "change-withdraw": "toggle_deployments",
    "change-control-settings": "manage_console",
    "freeze-windows": "manage_console",
    "deployment-bulk": "toggle_deployments",
    "job-list": "view_deployments",
    "job-detail": "view_deployments",
    # Operators cancel and retry their own jobs, Editors anyone's (checked per job).
    "job-cancel": "toggle_deployments",
    "job-retry": "toggle_deployments",
    # Each person's own email notifications (about deployments, so for those who may see them).
    "notification-settings": "view_deployments",
    "notification-edit": "view_deployments",
    "notification-delete": "view_deployments",
    # Who has which role where (scoped roles): Admins only.
    "people-list": "manage_console",
    "person-roles": "manage_console",
    "webhook-list": "manage_console",
    "webhook-create": "manage_console",
    "webhook-detail": "manage_console",
    "webhook-edit": "manage_console",
    "webhook-delete": "manage_console",
    "webhook-test": "manage_console",
}
# The REST API (deployments_ui/api/): scripts, with a personal API token the API checks itself
# (no session); each route then asks the person's role, as the pages do.
NAMESPACE_ACCESS: dict[str, str] = {"admin": STAFF, "api": PUBLIC}

# Write URLs: a refused POST to one of these is recorded in the audit trail.
WRITE_ACTIONS: dict[str, tuple[str, str]] = {
    "deployment-enable": ("enable", "enable deployments"),
    "deployment-disable": ("disable", "disable deployments"),
    "deployment-create": ("create", "create deployments"),
    "deployment-edit": ("update", "change deployments"),
    "deployment-delete": ("delete", "delete deployments"),
    "deployment-schedule": ("schedule", "schedule changes to deployments"),
    "deployment-bulk": ("bulk", "enable or disable deployments in bulk"),
}


# The permission a person needs to make (and so to approve) each kind of change, and to manage
# (move, cancel, retry) other people's scheduled changes and bulk jobs.
PERMISSION_FOR_ACTION = {
    "enable": f"{APP}.toggle_deployments",
    "disable": f"{APP}.toggle_deployments",
    "create": f"{APP}.change_deployments",
    "update": f"{APP}.change_deployments",
    "delete": f"{APP}.change_deployments",
}
TOGGLE_PERMISSION = f"{APP}.toggle_deployments"
ANYONES_PERMISSION = f"{APP}.change_deployments"
BREAK_GLASS_PERMISSION = f"{APP}.break_glass"
# Admins and Auditors: account and settings events, people's addresses and browsers.
AUDIT_EVERYTHING = f"{APP}.audit_everything"


def sees_everything(user) -> bool:
    """Whether the person may see the whole audit trail: events about accounts and settings,
    and people's IP addresses and browsers (Admins and Auditors)."""
    return bool(user is not None and user.is_active and user.has_perm(AUDIT_EVERYTHING))


def may_act(user: Any, action: str, where: Any = None) -> bool:
    """Whether `user` (active) holds the permission for this kind of change now: at `where` (a
    deployment, a DeploymentRef or an EnvironmentRef; accounts.scopes), or somewhere if None."""
    if user is None or not getattr(user, "is_active", False):
        return False
    permission = PERMISSION_FOR_ACTION.get(action, f"{APP}.nothing")
    return scopes.has_permission_at(user, permission, where)


def still_may_act(user: Any, action: str, name: str, where: Any = None) -> str:
    """'' when the person may still make this change (at `where`), else why not (plain words)."""
    toggles = action in ("enable", "disable")
    if user is None or not user.is_active:
        return later(lambda: gettext("%(name)s no longer has a console account.") % _who(name))
    if not may_act(user, action):
        if toggles:
            return later(
                lambda: (
                    gettext("%(name)s may no longer enable or disable deployments.") % _who(name)
                )
            )
        return later(lambda: gettext("%(name)s may no longer change deployments.") % _who(name))
    if where is not None and not may_act(user, action, where):
        return later(partial(_not_yours, name, toggles, where))
    return ""


def _who(name: str) -> dict[str, str]:
    """The person a refusal names: 'you' and 'they' are said in the reader's language."""
    pronouns = {
        "you": pgettext("a refusal's person", "you"),
        "they": pgettext("a refusal's person", "they"),
    }
    return {"name": pronouns.get(name, name)}


def _not_yours(name: str, toggles: bool, where: Any) -> str:
    words = {**_who(name), "where": scopes.place_words(where)}
    if toggles:
        return (
            gettext(
                "Not yours to change: %(name)s may not enable or disable deployments %(where)s."
            )
            % words
        )
    return gettext("Not yours to change: %(name)s may not change deployments %(where)s.") % words


def may_manage(user: Any, owner_id: int | None, where: Any = None) -> bool:
    """Operators may move, cancel or retry what they asked for themselves, Editors anyone's
    (where they hold that role: `where`, see may_act)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if scopes.has_permission_at(user, ANYONES_PERMISSION, where):
        return True
    return owner_id == user.pk and scopes.has_permission_at(user, TOGGLE_PERMISSION, where)


def rule_for(url_name: str | None, namespaces: list[str] | None = None) -> str | None:
    """The table's rule for a URL, or None when the URL is not in the table (deny)."""
    if namespaces:
        return NAMESPACE_ACCESS.get(namespaces[0])
    return URL_ACCESS.get(url_name or "")


def _allowed(user: User | AnonymousUser, rule: str | None) -> bool:
    if rule is None:
        return False
    if rule == PUBLIC:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if rule == AUTHENTICATED:
        return True
    if rule == STAFF:
        return user.is_staff
    # A permission held in some scope opens the page; the change itself is checked at its place.
    return scopes.has_permission_at(user, f"{APP}.{rule}")


def may(user: User | AnonymousUser, url_name: str) -> bool:
    """Whether the user may use the URL named `url_name` ("admin:index" style for admin)."""
    namespace, _, name = url_name.rpartition(":")
    return _allowed(user, rule_for(name, [namespace] if namespace else None))


def _login_url(back_to: str) -> str:
    return redirect_to_login(back_to)["Location"] if back_to else resolve_url(settings.LOGIN_URL)


def _login_redirect(request: ConsoleRequest) -> HttpResponse:
    if request.htmx:
        # htmx would swap the login page into the table: send the whole browser there instead.
        return HttpResponseClientRedirect(_login_url(request.htmx.current_url_abs_path or ""))
    # Come back after signing in only to a page that can be opened with a GET.
    back_to = request.get_full_path() if request.method in ("GET", "HEAD") else ""
    return HttpResponseRedirect(_login_url(back_to))


def _record_refusal(request: HttpRequest, url_name: str, kwargs: dict[str, Any]) -> None:
    action, what = WRITE_ACTIONS[url_name]
    try:
        record_refusal(
            actor=Actor.from_request(request),
            action=action,
            target=DeploymentRef(
                deployment_id=str(kwargs.get("deployment", "")),
                flow_version_id=str(kwargs.get("flow_version", "")),
            ),
            message=f"You do not have permission to {what}.",  # recorded: the console's words
        )
    except AuditUnavailable:
        # The request is refused either way; the log keeps the trace the table could not.
        logger.exception("Could not record the refused %s by user %s", action, request.user.pk)


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """The plain-words 403 page."""
    return TemplateResponse(request, "403.html", {"message": message}, status=403)


def _denial_message(request: HttpRequest, rule: str | None) -> str:
    if rule is None:
        return gettext("This page is not open to anyone yet.")
    if rule == STAFF:
        return gettext("Only console administrators can open the administration pages.")
    if not request.user.groups.exists():
        return gettext(
            "You are signed in, but you have not been given a role in the console yet. "
            "Ask a console administrator to give you one."
        )
    return gettext("Your role in the console does not allow this. Ask a console administrator.")


class AccessMiddleware:
    """Checks every resolved view against `URL_ACCESS` before it runs."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: ConsoleRequest, view_func, view_args: tuple, view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        match = request.resolver_match
        assert match is not None  # process_view runs after URL resolution
        rule = rule_for(match.url_name, match.namespaces)
        if _allowed(request.user, rule):
            return None
        if rule is not None and not request.user.is_authenticated:
            return _login_redirect(request)
        logger.info(
            "Refused user %s access to %s (%s)",
            request.user.pk,
            match.view_name or request.path,
            rule or "not in the access table",
        )
        if request.method == "POST" and match.url_name in WRITE_ACTIONS and not match.namespaces:
            _record_refusal(request, match.url_name, view_kwargs)
        return forbidden(request, _denial_message(request, rule))
