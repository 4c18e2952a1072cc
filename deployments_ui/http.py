"""The request as the console's middleware leaves it, for type annotations only."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
