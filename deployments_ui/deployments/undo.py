"""Undoing a change the trail recorded: the fields it changed are put back through the one write
path, so change control applies as for a click (approval on live, the typed name, freezes).

Only an enable, a disable or a change of a deployment can be undone, and only while the
deployment is still as that change left it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.gate import Controls
from deployments_ui.core.errors import ActionRefused
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.deployments import reads, writes
from deployments_ui.patchworks import Deployment, NotFound

Action = AuditEvent.Action
UNDOABLE = (Action.ENABLE, Action.DISABLE, Action.UPDATE)
UNDONE_FIELDS = ("priority", "virtual_environment_id")


class CannotUndo(ActionRefused):
    """This event cannot be undone now; the reason is in plain words."""


def undoable(event: AuditEvent) -> str:
    """'' when the change this event records may be undone, else why not (for the page)."""
    if event.completes_id is not None and event.completes is not None:
        event = event.completes
    if event.action not in UNDOABLE or not event.deployment_id:
        return gettext("Only an enable, a disable or a change of a deployment can be undone.")
    if event.source == AuditEvent.Source.CONSOLE and _final_outcome(event) != "succeeded":
        return gettext("This change was not made, so there is nothing to undo.")
    return ""


def undo(
    *, actor: Actor, user, event_id: int, reason: str = "", controls: Controls | None = None
) -> Deployment:
    """Put back what the event changed, as a new change that names the event it undoes."""
    event = AuditEvent.objects.filter(pk=event_id).select_related("completes").first()
    if event is None:
        raise CannotUndo(gettext("This audit event does not exist."))
    event = event.completes or event
    why_not = undoable(event)
    if why_not:
        raise CannotUndo(why_not)
    try:
        current = reads.deployment_get(
            user=user,
            flow_version_id=event.flow_version_id,
            deployment_id=event.deployment_id,
            for_change=True,
        )
    except NotFound as gone:
        raise CannotUndo(
            gettext("This deployment no longer exists, so nothing can be put back.")
        ) from gone
    before, after = event.before or {}, _after(event)
    _check_still_as_left(event, current, before, after)
    context = {"undoes": event.pk}
    if event.action in (Action.ENABLE, Action.DISABLE):
        return writes.set_enabled(
            actor=actor,
            user=user,
            ref=DeploymentRef.of(event),
            enabled=event.action == Action.DISABLE,
            reason=reason,
            controls=controls,
            current=current,
            context=context,
        )
    changes = {
        name: before.get(name)
        for name in UNDONE_FIELDS
        if not _same(before.get(name), after.get(name))
    }
    return writes.update(
        actor=actor,
        user=user,
        current=current,
        changes=changes,
        opened_values=writes.editable_values(current),
        reason=reason,
        controls=controls,
        context=context,
    )


def _check_still_as_left(event: AuditEvent, current: Deployment, before: dict, after: dict) -> None:
    now = audit.deployment_state(current)
    keys = ["enabled"] if event.action in (Action.ENABLE, Action.DISABLE) else list(UNDONE_FIELDS)
    if all(_same(now.get(key), before.get(key)) for key in keys):
        raise CannotUndo(gettext("It is already as it was before this change: nothing to undo."))
    if not all(_same(now.get(key), after.get(key)) for key in keys):
        raise CannotUndo(
            gettext(
                "It has changed since: undoing this change now would overwrite a later one. "
                "Nothing was sent."
            )
        )


def _same(first: Any, second: Any) -> bool:
    """Equal, counting an empty value and none as the same."""
    return (None if first in ("", None) else first) == (None if second in ("", None) else second)


def _after(event: AuditEvent) -> dict:
    result = event.results.order_by("-id").first()
    state = result.after if result is not None and isinstance(result.after, dict) else event.after
    return state if isinstance(state, dict) else {}


def _final_outcome(event: AuditEvent) -> str:
    result = event.results.order_by("-id").first()
    return result.outcome if result is not None else event.outcome
