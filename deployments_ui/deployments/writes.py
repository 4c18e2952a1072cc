"""The one write path: every change the console sends to Patchworks goes through here.

Each function acts for one person with their own key. It checks that the person may (still)
make the change, reads the current state first (never a blind write), passes change control's
gate, records the attempt, makes exactly one remote write and records how it ended. The row,
the detail panel, the no-JavaScript form, scheduled changes, bulk items, approved requests and
undo all call these functions: nothing else calls the client's write methods or records an
attempt (tests/test_layout.py checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from deployments_ui import audit
from deployments_ui.accounts.access import still_may_act
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.gate import ApprovalNeeded, Change, Controls, gate
from deployments_ui.core import overlap
from deployments_ui.core.errors import ActionRefused, ConsoleError
from deployments_ui.core.http import note_write_sent
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.core.vocabulary import EDITABLE_FIELDS
from deployments_ui.core.words import recorded
from deployments_ui.deployments import messages, reads
from deployments_ui.deployments.refusals import (
    AlreadyInState,
    ChangedSinceOpened,
    NotAllowed,
    OutOfScope,
    Withdrawn,
)
from deployments_ui.flow_health import recall
from deployments_ui.notifications import outbox
from deployments_ui.patchworks import Deployment, PatchworksClient, PatchworksError, budget

logger = logging.getLogger(__name__)
Action = AuditEvent.Action


# One outcome vocabulary: each room maps these kinds to its own statuses.
DONE, SKIPPED, WAITING, FAILED, UNKNOWN = "done", "skipped", "waiting", "failed", "unknown"


@dataclass(frozen=True)
class Outcome:
    kind: str
    message: str
    upstream_status: int | None = None


def outcome_of(error: Exception) -> Outcome:
    """How a write that raised ended, in the one vocabulary (done, skipped, waiting, failed,
    unknown), with the sentence to show."""
    if isinstance(error, (AlreadyInState, OutOfScope)):
        return Outcome(SKIPPED, error.message)
    if isinstance(error, ApprovalNeeded):
        return Outcome(WAITING, error.message)
    if isinstance(error, PatchworksError):
        if error.written:  # Patchworks accepted it (2xx); only reading it back failed
            return Outcome(DONE, error.message, None)
        if error.outcome_unknown:
            return Outcome(UNKNOWN, error.message, error.status)
        return Outcome(FAILED, error.message, error.status)
    if isinstance(error, ConsoleError):
        return Outcome(FAILED, error.message)
    if isinstance(error, MissingApiKey):
        return Outcome(FAILED, str(error))
    return Outcome(FAILED, messages.unexpected(type(error).__name__))


# A failure's message already says whether anything changed when it says one of these.
_SAYS_WHETHER = ("nothing was", "may have", "may not have", "whether", "was changed", "not sent")


def failure_message(error: Exception) -> str:
    """The sentence for a change that did not go through, always saying whether anything
    changed in Patchworks."""
    outcome = outcome_of(error)
    message = outcome.message
    if outcome.kind in (DONE, SKIPPED, WAITING) or any(
        words in recorded(message).lower() for words in _SAYS_WHETHER
    ):
        return message
    if outcome.kind == UNKNOWN:
        return messages.not_known(message)
    return messages.nothing_changed(message)


def set_enabled(
    *,
    actor: Actor,
    user,
    ref: DeploymentRef,
    enabled: bool,
    reason: str = "",
    note: str = "",
    controls: Controls | None = None,
    current: Deployment | None = None,
    on_attempt: Callable[[AuditEvent], bool] | None = None,
    context: dict[str, Any] | None = None,
    meanwhile: Callable[[AuditEvent], None] | None = None,
    ahead: Future[Deployment] | None = None,
) -> Deployment:
    """Enable or disable a deployment, unless it is already in that state.

    `current`: the deployment as the caller just read it (a bulk job reads 100 at a time);
    otherwise it is read here, or taken from the read started `ahead` (`reads`).
    `on_attempt` runs inside the attempt's transaction (a bulk item or a schedule claims itself
    and stores the attempt's id); returning False rolls the attempt back and nothing is sent.
    `note` says how a later change ran (its due time and lateness); `context` joins the
    attempt's record (the bulk job, the schedule or the event it undoes).
    `meanwhile(attempt)` may run while the write is in flight (to prepare what success shows).
    """
    action = Action.ENABLE if enabled else Action.DISABLE
    _may_or_refuse(actor, user, action, ref, reason)
    if current is None:
        current = _read_for_write(actor, user, action, ref, reason, ahead)
    ref = DeploymentRef.of(current)
    _may_or_refuse(actor, user, action, ref, reason, where=ref)
    before = audit.deployment_state(current)
    if current.is_enabled == enabled:
        refusal = AlreadyInState(already_words(current), current)
        _refuse(actor, action, ref, reason, refusal, before, context)
    after = {**before, "enabled": enabled}
    proposed = _carried(context)
    change = Change(action, ref, (EnvironmentRef.of(current),), before, after, proposed, reason)
    _control(actor, user, change, controls, current)
    client = reads.client_for(user)
    send = client.enable_deployment if enabled else client.disable_deployment
    return _send_write(
        actor,
        user,
        action,
        ref,
        before,
        after,
        reason,
        lambda: send(current.flow_version_id, current.id),
        note=note,
        on_attempt=on_attempt,
        context=context,
        meanwhile=meanwhile,
    )


def create(
    *,
    actor: Actor,
    user,
    flow_version_id: str,
    virtual_environment_id: str | None,
    priority: int | None,
    deploy_disabled: bool,
    flow_name: str = "",
    reason: str = "",
    controls: Controls | None = None,
    context: dict[str, Any] | None = None,
) -> Deployment:
    """Deploy a flow version into an environment (or globally)."""
    environment = reads.environment_or_none(user, virtual_environment_id)
    ref = DeploymentRef(
        flow_version_id=flow_version_id,
        flow_name=flow_name,
        environment_id=virtual_environment_id or "",
        environment_name=environment.name if environment else "",
        environment_type=environment.type if environment else "",
    )
    _may_or_refuse(actor, user, Action.CREATE, ref, reason, where=ref)
    client = _client_or_refuse(actor, user, Action.CREATE, ref, reason)
    after = {
        "virtual_environment_id": virtual_environment_id,
        "priority": priority,
        "enabled": not deploy_disabled,
    }
    proposed = {
        "virtual_environment_id": virtual_environment_id,
        "priority": priority,
        "deploy_disabled": deploy_disabled,
    }
    where = EnvironmentRef.of(environment) if environment else ref.environment
    change = Change(Action.CREATE, ref, (where,), None, after, proposed, reason)
    _control(actor, user, change, controls)
    return _send_write(
        actor,
        user,
        Action.CREATE,
        ref,
        None,
        after,
        reason,
        lambda: client.create_deployment(
            flow_version_id,
            virtual_environment_id=virtual_environment_id,
            priority=priority,
            deploy_disabled=deploy_disabled,
        ),
        context=context,
    )


def update(
    *,
    actor: Actor,
    user,
    current: Deployment,
    changes: dict[str, Any],
    opened_values: dict[str, Any],
    reason: str = "",
    controls: Controls | None = None,
    context: dict[str, Any] | None = None,
) -> Deployment:
    """Change a deployment, refusing if it changed in Patchworks since the form was opened.

    `current` is the deployment as read from Patchworks in this same request.
    """
    ref = DeploymentRef.of(current)
    _may_or_refuse(actor, user, Action.UPDATE, ref, reason, where=ref)
    client = _client_or_refuse(actor, user, Action.UPDATE, ref, reason)
    before = audit.deployment_state(current)
    differences = changed_fields(opened_values, editable_values(current))
    if differences:
        message = messages.changed_since()
        refusal = ChangedSinceOpened(message, current, differences)
        _refuse(actor, Action.UPDATE, ref, reason, refusal, before, _jsonable(changes))
    after = {**before, **_jsonable(changes)}
    places: tuple[EnvironmentRef, ...] = (EnvironmentRef.of(current),)
    moved_to = changes.get("virtual_environment_id", current.virtual_environment_id)
    if (moved_to or None) != (current.virtual_environment_id or None):
        found = reads.environment_or_none(user, moved_to)
        places += (EnvironmentRef.of(found) if found else EnvironmentRef(id=str(moved_to or "")),)
        # Moving a deployment changes the place it leaves and the one it joins.
        _may_or_refuse(actor, user, Action.UPDATE, ref, reason, where=places[-1])
    proposed = {"changes": _jsonable(changes), **_carried(context)}
    change = Change(Action.UPDATE, ref, places, before, after, proposed, reason)
    _control(actor, user, change, controls, current)
    return _send_write(
        actor,
        user,
        Action.UPDATE,
        ref,
        before,
        after,
        reason,
        lambda: client.update_deployment(current.flow_version_id, current.id, changes=changes),
        context=context,
    )


def delete(
    *,
    actor: Actor,
    user,
    ref: DeploymentRef,
    reason: str = "",
    controls: Controls | None = None,
    context: dict[str, Any] | None = None,
) -> Deployment:
    """Delete a deployment permanently. Returns what it was, for the confirmation message."""
    _may_or_refuse(actor, user, Action.DELETE, ref, reason)
    current = _read_for_write(actor, user, Action.DELETE, ref, reason)
    before = audit.deployment_state(current)
    ref = DeploymentRef.of(current)
    _may_or_refuse(actor, user, Action.DELETE, ref, reason, where=ref)
    change = Change(Action.DELETE, ref, (EnvironmentRef.of(current),), before, None, {}, reason)
    _control(actor, user, change, controls, current)
    client = reads.client_for(user)
    _send_write(
        actor,
        user,
        Action.DELETE,
        ref,
        before,
        None,
        reason,
        lambda: client.delete_deployment(current.flow_version_id, current.id),
        context=context,
    )
    return current


def editable_values(deployment: Deployment) -> dict[str, Any]:
    """The values an edit form shows, in a form that survives a round trip through the page."""
    values = {name: getattr(deployment, name) for name in EDITABLE_FIELDS}
    if values["enabled_at"] is not None:
        values["enabled_at"] = values["enabled_at"].isoformat()
    return values


def changed_fields(opened: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Plain names of the editable fields whose values differ."""
    return [
        label for name, label in EDITABLE_FIELDS.items() if opened.get(name) != current.get(name)
    ]


def already_words(deployment: Deployment) -> str:
    """The one sentence for a change found already made."""
    return messages.already(deployment)


# The steps


def _may_or_refuse(
    actor: Actor, user, action: str, ref: DeploymentRef, reason: str, where: Any = None
) -> None:
    """The person who asked must still be active and hold the right for this change: somewhere
    before the deployment is read, then at its place (`where`: its environment and flow)."""
    name = actor.name or (user.get_username() if user is not None else "Someone")
    problem = still_may_act(user, action, name)
    if problem:
        _refuse(actor, action, ref, reason, NotAllowed(problem))
    if where is not None and (problem := still_may_act(user, action, name, where)):
        _refuse(actor, action, ref, reason, OutOfScope(problem))


def _carried(context: dict[str, Any] | None) -> dict[str, Any]:
    """What a change that waits for approval keeps for when it is applied: the event it undoes."""
    return {"undoes": context["undoes"]} if context and context.get("undoes") else {}


def _control(actor: Actor, user, change: Change, controls: Controls | None, current=None) -> None:
    """Change control's gate: frozen, reason or name missing, or recorded as a request."""
    try:
        gate(actor=actor, user=user, change=change, controls=controls)
    except ActionRefused as refused:
        refused.deployment = refused.deployment or current
        raise


def _client_or_refuse(actor, user, action, ref, reason) -> PatchworksClient:
    """The person's client, or a recorded refusal when they have no key."""
    try:
        return reads.client_for(user)
    except MissingApiKey:
        audit.record_refusal(
            actor=actor,
            action=action,
            target=ref,
            reason=reason,
            message=messages.no_key(),
        )
        raise


def _read_for_write(actor, user, action, ref: DeploymentRef, reason, ahead=None) -> Deployment:
    """Read the current state before a write; a failed read is recorded as a failed attempt."""
    _client_or_refuse(actor, user, action, ref, reason)
    try:
        return reads.deployment_get(
            user=user,
            flow_version_id=ref.flow_version_id,
            deployment_id=ref.deployment_id,
            for_change=True,
            ahead=ahead,
        )
    except PatchworksError as error:
        attempt = audit.record_attempt(actor=actor, action=action, target=ref, reason=reason)
        audit.record_outcome(
            attempt,
            outcome=AuditEvent.Outcome.FAILED,
            upstream_status=error.status,
            message=messages.unread(error.message),
        )
        raise


def _refuse(actor, action, ref, reason, refusal: ActionRefused, before=None, after=None):
    audit.record_refusal(
        actor=actor,
        action=action,
        target=ref,
        message=refusal.message,
        reason=reason,
        before=before,
        after=after,
    )
    raise refusal


def _send_write(
    actor,
    user,
    action,
    ref,
    before,
    after,
    reason,
    send,
    note: str = "",
    on_attempt: Callable[[AuditEvent], bool] | None = None,
    context: dict[str, Any] | None = None,
    meanwhile: Callable[[AuditEvent], None] | None = None,
) -> Any:
    """Record the attempt (and the caller's claim, together), make the one remote write, record
    how it ended."""
    context = {**(context or {}), **_flow_health(ref)}
    if context:
        after = {**(after or {}), **context}
    with transaction.atomic() if on_attempt else nullcontext():  # the claim commits with it
        attempt = audit.record_attempt(
            actor=actor,
            action=action,
            target=ref,
            before=before,
            after=after,
            reason=reason,
            message=note,
        )
        if on_attempt is not None and not on_attempt(attempt):
            transaction.set_rollback(True)
            raise Withdrawn(messages.cancelled())
    note_write_sent()
    rules: list[outbox.Rules] = []
    try:
        result = _sent(send, meanwhile, attempt, rules)
    except PatchworksError as error:
        outcome = outcome_of(error)
        kinds = {DONE: AuditEvent.Outcome.SUCCEEDED, UNKNOWN: AuditEvent.Outcome.UNKNOWN}
        _record_outcome(
            attempt,
            rules,
            outcome=kinds.get(outcome.kind, AuditEvent.Outcome.FAILED),
            upstream_status=outcome.upstream_status,
            message=error.message,
        )
        raise
    if isinstance(result, Deployment):
        result = reads.named(user, [result])[0]
        _record_outcome(
            attempt,
            rules,
            outcome=AuditEvent.Outcome.SUCCEEDED,
            after={**audit.deployment_state(result), **(context or {})},
            target=DeploymentRef.of(result),
        )
    else:
        _record_outcome(attempt, rules, outcome=AuditEvent.Outcome.SUCCEEDED)
    return result


def _sent(send, meanwhile, attempt, rules: list[outbox.Rules]) -> Any:
    """The write's answer; the write (no database) from another thread while `meanwhile` runs,
    and the notification rules its outcome will need are read (into `rules`)."""
    if meanwhile is None or budget.counts_in_database():
        return send()

    def prepare() -> None:
        try:
            meanwhile(attempt)
        finally:
            rules.append(outbox.rules_read(with_permissions=True))

    return overlap.alongside(send, prepare)


def _flow_health(ref: DeploymentRef) -> dict[str, Any]:
    """How the deployment's flow was running, as a page, the worker or drift detection read it
    within the last minutes: kept with the change, long after Patchworks drops the runs. Never
    a request of its own (nothing at hand: nothing kept)."""
    summary = recall(ref.deployment_id) if ref.deployment_id else None
    return {"flow_health": summary} if summary else {}


def _record_outcome(attempt, rules: list[outbox.Rules], **outcome) -> None:
    """Complete the attempt; once the write was sent, failing to record it must not hide it
    (the worker settles an attempt left without an outcome by reading)."""
    try:
        with outbox.rules_ready(rules[0] if rules else None):
            audit.record_outcome(attempt, **outcome)
    except audit.AuditUnavailable:
        logger.exception("Could not record the outcome of audit event %s", attempt.pk)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in values.items()
    }
