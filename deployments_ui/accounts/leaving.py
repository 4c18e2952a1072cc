"""Someone leaves: switching a person off, by any route (SCIM, the identity provider's groups,
the admin page), runs one cascade.

The cascade lives above accounts (`deployments_ui.leavers`: sessions, key, requests, schedules
and jobs), so it registers itself here when the app starts, as the notifications outbox
registers with the audit chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_cascade: list[Callable[..., Any]] = []


def use_cascade(cascade: Callable[..., Any]) -> None:
    """Register what switching a person off runs (the app does this once, when it starts)."""
    _cascade[:] = [cascade]


def deactivate(*, user: Any, actor: Any, via: str) -> Any:
    """Switch `user` off and stop everything they started, in one transaction, audited."""
    if not _cascade:
        raise RuntimeError("The leavers' cascade is not registered (deployments_ui.apps).")
    return _cascade[0](user=user, actor=actor, via=via)
