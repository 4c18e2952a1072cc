"""Who calls the API: a personal API token in `Authorization: Bearer …`, and its own pace."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from deployments_ui.audit import Actor
from deployments_ui.patchworks import budget
from deployments_ui.tokens import limits, scope
from deployments_ui.tokens.models import ApiToken
from deployments_ui.tokens.services import actor_for, authenticate

VIEW_PERMISSION = "deployments_ui.view_deployments"


class TooManyRequests(Exception):
    """This token made more requests this minute than it may."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class NotPermitted(Exception):
    """The token's person may not use this route (their role)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenAuth(HttpBearer):
    """A valid token of an active person with a role that may see deployments, within its
    rate limit. The person acts with their own role, narrowed by the token (`tokens.scope`)."""

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        # Read the header here: the library's own reading logs an unexpected one, secret and
        # all, when DEBUG is on.
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = authenticate(token)
        if found is None:
            return None
        wait = limits.seconds_to_wait(found)
        if wait:
            raise TooManyRequests(wait)
        if not found.user.has_perm(VIEW_PERMISSION):
            raise NotPermitted(
                "Your role in the console does not allow this. Ask a console administrator."
            )
        scope.acting_with(found.user, found)
        return found


def caller(request: HttpRequest) -> tuple[Actor, Any]:
    """The actor to record and the person (marked with the token) to act for."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]  # set by TokenAuth
    return actor_for(request, token), token.user


def scripted(view: Callable[..., Any]) -> Callable[..., Any]:
    """The route's Patchworks requests come after people's (`budget.script`)."""

    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        with budget.script():
            return view(*args, **kwargs)

    return run
