"""Single sign-on through a trusted proxy (oauth2-proxy, Pomerium, Cloudflare Access, ...).

The proxy signs people in and passes their identity in a header (`CONSOLE_SSO_HEADER`). The
header is believed only when the request's direct peer (REMOTE_ADDR) is one of
`CONSOLE_SSO_TRUSTED_PROXIES`; from anywhere else it is ignored and the attempt logged.

Underscore spoofing: WSGI (and Django's `request.META`) maps both `X-Forwarded-Email` and
`X_Forwarded_Email` to `HTTP_X_FORWARDED_EMAIL`, so a proxy that only sets or strips the dashed
name could pass a client's underscore variant through. The app cannot see the raw header name
under WSGI, so the defence is layered:

1. The WSGI server drops header names containing underscores before they reach the app:
   gunicorn's `header_map = "drop"` (its default since 22.0; gunicorn.conf.py states it), and
   Django's own runserver (`WSGIRequestHandler.get_environ`) and ASGI handler do the same.
   tests/accounts/test_sso.py sends the underscore variant through both real servers.
2. If a server nevertheless merged the two (gunicorn's `header_map = "dangerous"`, plain
   wsgiref), the value arrives as "real,spoofed": identities containing a comma, whitespace or
   control characters are refused here and the SSO session is ended.
3. The proxy should strip underscore variants too: current oauth2-proxy releases do (the fix
   for CVE-2025-64484, GHSA-vjrc-mh2v-45x6), and nginx drops them unless
   `underscores_in_headers on`.

The groups header (`CONSOLE_SSO_GROUPS_HEADER`) is a comma list by nature, so step 2 cannot
protect it: it relies on steps 1 and 3. Roles from it are applied at each sign-in, that is,
when a session starts or the identity changes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

ROLE_NAMES = ("Viewer", "Operator", "Editor", "Admin")
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGN_IN_METHOD = "sign_in_method"
SSO_IDENTITY = "sso_identity"
# What a person's identity may look like: an email address or a user name, never a list.
_IDENTITY = re.compile(r"^[^\s\x00-\x1f\x7f,;\"<>\\]{1,150}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(value: str, networks: Iterable[Network]) -> bool:
    address = _parse_ip(value)
    return address is not None and any(address in network for network in networks)


def is_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request's direct peer is one of the configured SSO proxies."""
    return _trusted(request.META.get("REMOTE_ADDR", ""), settings.SSO_TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The address of the person's browser, as far as the trusted proxies vouch for it.

    REMOTE_ADDR, unless it is a trusted proxy that sent X-Forwarded-For: then the rightmost
    address in that list that is not itself a trusted proxy (entries to its left were written
    by the client and can be anything).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    networks = settings.SSO_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _trusted(remote, networks):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            return remote
        if not any(address in network for network in networks):
            return str(address)
    return str(_parse_ip(hops[0])) if hops else remote


def _is_email(identity: str) -> bool:
    try:
        validate_email(identity)
    except ValidationError:
        return False
    return True


def _roles_from_groups_header(request: HttpRequest) -> list[str]:
    raw = request.META.get(_meta_key(settings.SSO_GROUPS_HEADER), "")
    mapping = {group.strip(): role.strip() for group, role in settings.SSO_GROUP_ROLES.items()}
    roles = []
    for group in (item.strip() for item in raw.split(",")):
        role = mapping.get(group)
        if role in ROLE_NAMES and role not in roles:
            roles.append(role)
    return roles


def _default_roles() -> list[str]:
    role = settings.SSO_DEFAULT_ROLE.strip()
    if not role or role.lower() == "none":
        return []
    if role not in ROLE_NAMES:
        logger.error("CONSOLE_SSO_DEFAULT_ROLE %r is not one of %s", role, ", ".join(ROLE_NAMES))
        return []
    return [role]


def _set_roles(user: User, roles: list[str]) -> None:
    """Replace the user's role groups (other groups are left alone)."""
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES).exclude(name__in=roles))
    user.groups.add(*Group.objects.filter(name__in=roles))
    # Admins manage people and roles in Django's admin, which only staff may open.
    if not user.is_superuser and user.is_staff != ("Admin" in roles):
        user.is_staff = "Admin" in roles
        user.save(update_fields=["is_staff"])


@transaction.atomic
def sso_user(request: HttpRequest, identity: str) -> User:
    """The person the proxy vouches for, created on first sign-in, roles synced from groups."""
    user_model = get_user_model()
    user, created = user_model._default_manager.get_or_create(
        **{user_model.USERNAME_FIELD: identity},
        defaults={"email": identity if _is_email(identity) else ""},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        logger.info("Created user %s on their first SSO sign-in", user.pk)
    if settings.SSO_GROUPS_HEADER:
        _set_roles(user, _roles_from_groups_header(request) or _default_roles())
    elif created:
        _set_roles(user, _default_roles())
    return user


def _sso_session(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.session.get(SIGN_IN_METHOD) == "sso"


def _end_sso_session(request: HttpRequest, why: str) -> None:
    if _sso_session(request):
        logger.info("Signed out user %s: %s", request.user.pk, why)
        logout(request)


def _sign_in(request: HttpRequest, identity: str) -> None:
    if request.user.is_authenticated:
        logout(request)
    user = sso_user(request, identity)
    if not user.is_active:
        logger.warning("Refused SSO sign-in of deactivated user %s", user.pk)
        return
    login(request, user, backend=MODEL_BACKEND)  # a new session key
    request.session[SIGN_IN_METHOD] = "sso"
    request.session[SSO_IDENTITY] = identity


def _follow_header(request: HttpRequest) -> None:
    header = settings.SSO_HEADER
    claimed = request.META.get(_meta_key(header))
    if not is_trusted_proxy(request):
        if claimed is not None:
            logger.warning(
                "Ignored the %s header from %s, which is not a trusted SSO proxy (path %r)",
                header,
                request.META.get("REMOTE_ADDR", "?"),
                request.path[:200],
            )
        # An SSO session is only valid through the proxy that created it.
        _end_sso_session(request, "request did not come through the SSO proxy")
        return
    identity = (claimed or "").strip()
    if not identity:
        _end_sso_session(request, "the SSO proxy no longer sends an identity")
        return
    if not _IDENTITY.match(identity):
        logger.warning(
            "Refused a malformed %s header from %s (a list, spaces or odd characters; "
            "possibly a merged underscore variant)",
            header,
            request.META.get("REMOTE_ADDR", "?"),
        )
        _end_sso_session(request, "the SSO identity was malformed")
        return
    if _sso_session(request) and request.session.get(SSO_IDENTITY) == identity:
        return
    _sign_in(request, identity)


class TrustedProxySsoMiddleware:
    """Signs people in from the trusted proxy's identity header; the session follows it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SSO_HEADER:
            _follow_header(request)
        return self.get_response(request)
