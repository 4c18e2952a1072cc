"""A token's narrowing: applied on top of whatever the person's role allows.

The person's role (and any other check of theirs) decides first; a token can only take away.
The API marks the person it acts for with the token (`acting_with`), and change control's gate
asks `refusal` about every change, so that the narrowing holds on every route into the one
change pipeline, whatever later widens or narrows the role itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deployments_ui.tokens.models import ApiToken

Scope = ApiToken.Scope
_ATTRIBUTE = "console_api_token"
# The environment types a test-only token may change; the global deployment runs in live ones too.
TEST_TYPES = frozenset({"test"})


def acting_with(user: Any, token: ApiToken) -> Any:
    """Mark `user` (this request's instance) as acting through `token`; returns `user`."""
    setattr(user, _ATTRIBUTE, token)
    return user


def token_of(user: Any) -> ApiToken | None:
    """The token `user` acts through in this request, if any."""
    return getattr(user, _ATTRIBUTE, None)


def refusal(user: Any, environments: Iterable[Any]) -> str:
    """'' when the token `user` acts through (if any) allows a change in these environments,
    else why not, in plain words."""
    token = token_of(user)
    if token is None or token.scope == Scope.ROLE:
        return ""
    if token.scope == Scope.READ_ONLY:
        return f"The token '{token.name}' is read only: it cannot change deployments."
    places = list(environments)
    outside = [e for e in places if (getattr(e, "type", "") or "") not in TEST_TYPES]
    if outside or not places:
        where = getattr(outside[0], "name", "") if outside else ""
        return (
            f"The token '{token.name}' may change deployments in test environments only"
            f"{f', not in {where}' if where else ''}."
        )
    return ""


def may_change(user: Any) -> bool:
    """Whether the token (if any) allows changes at all (to say so before reading anything)."""
    token = token_of(user)
    return token is None or token.scope != Scope.READ_ONLY
