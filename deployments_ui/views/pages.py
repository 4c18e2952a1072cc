"""What every view shares: the key check, where to go next, and how a failure is shown.

A view that cannot do what was asked has a `ConsoleError` (a Patchworks error, an audit trail
that cannot be written, an action the console refused): `respond` shows it in the page, or in
the fragment htmx asked for, with the error's status; `shows_errors` does the same for a view
that lets one through, on the error page.
"""

from __future__ import annotations

import functools
import json
from typing import TypeVar, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django_htmx.http import HttpResponseClientRedirect

from deployments_ui.accounts import access
from deployments_ui.accounts.credentials import MissingApiKey, keys_remembered
from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.http import ConsoleRequest

# console.js swaps an error answer into the page only when it carries this header; any other
# error answer becomes a generic toast.
FRAGMENT_HEADER = "X-Console-Fragment"
REFUSAL_HEADER = "X-Console-Refusal"

R = TypeVar("R", bound=HttpResponse)


def needs_api_key(view):
    """Send people without a saved Patchworks key to the page where they can add one."""

    @functools.wraps(view)
    def wrapper(request: ConsoleRequest, *args, **kwargs) -> HttpResponse:
        try:
            with keys_remembered():
                return view(request, *args, **kwargs)
        except MissingApiKey:
            messages.info(
                request,
                gettext(
                    "To see and change deployments, the console needs your Patchworks API key. "
                    "Add it below; it is stored encrypted and never shown again."
                ),
            )
            if request.htmx:
                return HttpResponseClientRedirect(reverse("api-key"))
            return redirect("api-key")

    return wrapper


def shows_errors(view):
    """A ConsoleError the view lets through becomes the error page, with the error's status."""

    @functools.wraps(view)
    def wrapper(request: ConsoleRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ConsoleError as error:
            context = {
                "flow_version": kwargs.get("flow_version", ""),
                "deployment_id": kwargs.get("deployment", ""),
            }
            return respond(request, "deployments_ui/upstream_error.html", context, error=error)

    return wrapper


def wants_fragment(request: ConsoleRequest) -> bool:
    """htmx asked for a part of the page (boosted links and history restores need all of it)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def respond(
    request: ConsoleRequest,
    template: str,
    context: dict,
    *,
    fragment: str | None = None,
    error: ConsoleError | None = None,
) -> TemplateResponse:
    """The page, or the `fragment` template when htmx asked for one; with an error, its status.

    An error fragment is marked with FRAGMENT_HEADER so that the page shows it where it belongs.
    """
    status = error.http_status if error is not None else 200
    context = {**context, "error": error}
    if fragment and wants_fragment(request):
        return mark_fragment(TemplateResponse(request, fragment, context, status=status))
    return TemplateResponse(request, template, context, status=status)


def refusal(refused: ConsoleError, *, link: str = "") -> HttpResponse:
    """A refused change, for the dialog that asked: the page stays as it is, and console.js puts
    the message beside the field it is about (REFUSAL_HEADER), or in a toast when no dialog is
    open. The header is JSON in ASCII, so any message travels safely."""
    field = getattr(refused, "field", "") or ""
    body = {"field": field, "message": refused.message, "link": link}
    response = HttpResponse(refused.message, status=refused.http_status, content_type="text/plain")
    response[REFUSAL_HEADER] = json.dumps(body)
    return response


_gzip = GZipMiddleware(lambda request: HttpResponse())


def compressed(request: HttpRequest, response: R) -> R:
    """The response compressed as GZipMiddleware would on the way out (it leaves a response
    already compressed as it is): for a page prepared while Patchworks' answer travels, so that
    compressing it takes none of the time after the answer."""
    return cast(R, _gzip.process_response(request, response))


def mark_fragment(response: R) -> R:
    response[FRAGMENT_HEADER] = "1"
    return response


def safe_next(request: HttpRequest, fallback: str = "") -> str:
    """The `next` the request asks for if it leads back into the console, otherwise `fallback`.

    Only a path on this site counts: never another host, a scheme, or `//` and `/\\` (which
    browsers read as another host).
    """
    target = (request.POST.get("next") or request.GET.get("next") or "").strip()
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else fallback


def not_yours(request: HttpRequest, action: str, place) -> HttpResponse | None:
    """The 403 page when the person's role where `place` is (their scope) does not allow this
    kind of change; None when it does."""
    problem = access.still_may_act(request.user, action, "you", place)
    return access.forbidden(request, problem) if problem else None


def buttons_at(user, place) -> dict[str, bool]:
    """Which change buttons a page shows for one deployment: its own place decides (the
    person's scope), not only their role anywhere."""
    return {
        "can_toggle": access.may_act(user, "enable", place),
        "can_change": access.may_act(user, "update", place),
    }


def kept_bulk_choice(request: HttpRequest) -> bool:
    """A row swapped in after an in-row change keeps its bulk checkbox when the list had one
    (the row's form says so)."""
    return request.POST.get("bulk") == "1"
