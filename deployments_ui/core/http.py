"""The request as the console sees it: its type after the middleware, the request in hand, and
the address of the person's browser as far as the trusted proxies vouch for it."""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # importing it needs the app registry


class ConsoleRequest(HttpRequest):
    """An `HttpRequest` with what the middleware adds: `htmx` (django-htmx) and `id`
    (`deployments_ui.middleware.RequestIdMiddleware`). Annotate views that read them with it."""

    htmx: HtmxDetails
    id: str


class SignedInRequest(ConsoleRequest):
    """A request to a view that is not public: the access middleware (`URL_ACCESS`) has let
    only a signed-in person through, so `user` is a `User`, never the anonymous one."""

    user: User


# The request being served and its id (set by `middleware.RequestIdMiddleware`), for code that
# has no request in hand (logging, the lockout handler).
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "current_request", default=None
)

# Set on the request in hand once a write to Patchworks was sent for it (`note_write_sent`): a
# failure after that point must not tell the person that nothing was sent.
WRITE_SENT = "console_write_sent"


def note_write_sent() -> None:
    """The request being served has sent a write to Patchworks."""
    request = current_request.get()
    if request is not None:
        setattr(request, WRITE_SENT, True)


def write_sent(request: HttpRequest) -> bool:
    """Whether a write to Patchworks was sent while serving `request`."""
    return bool(getattr(request, WRITE_SENT, False))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(value: str, networks: Iterable[Network]) -> bool:
    address = parse_ip(value)
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
        address = parse_ip(hop)
        if address is None:
            return remote
        if not any(address in network for network in networks):
            return str(address)
    return str(parse_ip(hops[0])) if hops else remote
