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


_recheck: list[Callable[..., Any]] = []


def use_recheck(recheck: Callable[..., Any]) -> None:
    """Register what a change of someone's roles runs (the app does this once, when it starts)."""
    _recheck[:] = [recheck]


def roles_changed(*, user: Any, actor: Any) -> Any:
    """Someone's roles (or scoped roles) changed: what waits in their name and their role no
    longer allows stops now, rather than at its time (deployments_ui.leavers.recheck)."""
    return _recheck[0](user=user, actor=actor) if _recheck else None
