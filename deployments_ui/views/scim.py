"""SCIM 2.0 endpoints for the identity provider: /scim/v2/Users and /scim/v2/Groups.

No session and no CSRF: every request carries the provisioning bearer token. Every answer,
errors included, is SCIM JSON (application/scim+json) in SCIM's error shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from deployments_ui import audit
from deployments_ui.accounts import scim, scim_groups
from deployments_ui.accounts.sso import client_ip

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/scim+json"
MAX_BODY = 1_000_000

View = Callable[..., HttpResponse]


def _json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE)


def _error(problem: scim.ScimError) -> JsonResponse:
    return _json(problem.body(), problem.status)


def _actor(request: HttpRequest) -> audit.Actor:
    return audit.Actor(
        name="provisioning (SCIM)",
        sign_in_method="scim",
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        request_id=getattr(request, "id", "") or "",
    )


def _token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise scim.ScimError(413, "The request is too large.")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise scim.ScimError(400, "The request body is not JSON.", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise scim.ScimError(400, "The request body must be a JSON object.", "invalidSyntax")
    return body


def scim_endpoint(methods: tuple[str, ...]) -> Callable[[View], View]:
    """Token check, allowed methods, and every failure as a SCIM error."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if not scim.token_valid(_token(request)):
                logger.warning("Refused a SCIM request without the provisioning token")
                return _error(scim.ScimError(401, "The provisioning token is missing or wrong."))
            if request.method not in methods:
                return _error(scim.ScimError(405, f"{request.method} is not supported here."))
            try:
                return view(request, **kwargs)
            except scim.ScimError as problem:
                return _error(problem)
            except audit.AuditUnavailable:
                logger.exception("SCIM change not made: the audit trail is unavailable")
                down = scim.ScimError(503, "The console cannot record changes just now.")
                return _error(down)

        return wrapped

    return decorate


def _user_url(request: HttpRequest, user_id: int) -> str:
    return request.build_absolute_uri(reverse("scim-user", args=[str(user_id)]))


def _group_url(request: HttpRequest, group_id: int) -> str:
    return request.build_absolute_uri(reverse("scim-group", args=[str(group_id)]))


def _user(request: HttpRequest, link, status: int = 200) -> JsonResponse:
    return _json(scim.user_resource(link, _user_url(request, link.user_id)), status)


def _group(request: HttpRequest, group, status: int = 200) -> JsonResponse:
    members = "members" not in request.GET.get("excludedAttributes", "")
    return _json(scim_groups.group_resource(group, _group_url(request, group.pk), members), status)


@scim_endpoint(("GET", "POST"))
def users(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _user(request, scim.create_user(_body(request), _actor(request)), 201)
    links, total, page = scim.list_users(request.GET.dict())
    found = [scim.user_resource(link, _user_url(request, link.user_id)) for link in links]
    return _json(scim.list_response(found, total, page))


@scim_endpoint(("GET", "PUT", "PATCH", "DELETE"))
def user(request: HttpRequest, resource: str) -> HttpResponse:
    link = scim.link_for(resource)
    if request.method == "PUT":
        link = scim.replace_user(link, _body(request), _actor(request))
    elif request.method == "PATCH":
        link = scim.patch_user(link, _body(request), _actor(request))
    elif request.method == "DELETE":
        scim.delete_user(link, _actor(request))
        return HttpResponse(status=204)
    return _user(request, link)


@scim_endpoint(("GET", "POST"))
def groups(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _group(request, scim_groups.create_group(_body(request), _actor(request)), 201)
    found, total, page = scim_groups.list_groups(request.GET.dict())
    members = "members" not in request.GET.get("excludedAttributes", "")
    resources = [scim_groups.group_resource(g, _group_url(request, g.pk), members) for g in found]
    return _json(scim.list_response(resources, total, page))


@scim_endpoint(("GET", "PUT", "PATCH", "DELETE"))
def group(request: HttpRequest, resource: str) -> HttpResponse:
    found = scim_groups.group_for(resource)
    if request.method == "PUT":
        found = scim_groups.replace_group(found, _body(request), _actor(request))
    elif request.method == "PATCH":
        found = scim_groups.patch_group(found, _body(request), _actor(request))
    elif request.method == "DELETE":
        scim_groups.delete_group(found, _actor(request))
        return HttpResponse(status=204)
    return _group(request, found)


@scim_endpoint(("GET",))
def service_provider_config(request: HttpRequest) -> HttpResponse:
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": scim.MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "The token printed by manage.py scim_token.",
                }
            ],
        }
    )
