"""Change control's gate: the one check every change passes before anything is sent.

`gate()` refuses a change during a freeze window (unless an Admin overrides with a reason),
checks the reason and the typed environment name where a rule asks for them, and turns a change
that needs approval into a `ChangeRequest` instead of a write. The one write path
(`deployments.writes`) calls it after reading the deployment and before recording the attempt;
schedules and bulk jobs call it when a change is asked for. Every step is an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from deployments_ui import audit
from deployments_ui.accounts.access import BREAK_GLASS_PERMISSION, may_act
from deployments_ui.accounts.same_person import accounts_of
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.rules import (
    Freeze,
    freeze_in_force,
    name_to_confirm,
    names_match,
    rule_for,
    types_of,
)
from deployments_ui.changes.summaries import many_summary, stored_summary, summary
from deployments_ui.core.errors import ActionRefused
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.core.words import both, later
from deployments_ui.notifications import events, outbox
from deployments_ui.tokens import scope as token_scope

Action = AuditEvent.Action
Status = ChangeRequest.Status


# What the gate is given


@dataclass(frozen=True)
class Controls:
    """What the person gave with a change, for the gate to check.

    `confirm_name`: the environment name they typed. `confirmed_elsewhere`: it was typed when
    the change was asked for (a scheduled change, an "off until" re-enable, a bulk preview).
    `freeze_override`: an Admin's reason for writing during a freeze window.
    `apply_when_approved`: a request made now applies itself once approved. `ask_approval`: make
    a request even where no rule asks for one (a script asking for approval). `due_at`: the change
    is asked for now and due then (a freeze is checked at that time, not now). `until`: an "off
    until" disable, re-enabled then (one request covers both). `change_request`: the approved
    (or break-glass) request being applied, so no new request is made.
    """

    confirm_name: str = ""
    confirmed_elsewhere: bool = False
    freeze_override: str = ""
    apply_when_approved: bool = False
    ask_approval: bool = False
    due_at: datetime | None = None
    until: datetime | None = None
    change_request: ChangeRequest | None = None


@dataclass(frozen=True)
class Change:
    """One change to one deployment, as the gate sees it."""

    action: str
    target: DeploymentRef
    environments: tuple[EnvironmentRef, ...]
    before: dict | None
    after: dict | None
    # What applying it later sends: the arguments of the write path's function.
    proposed: dict = field(default_factory=dict)
    reason: str = ""


# Refusals


class ChangeFrozen(ActionRefused):
    """A freeze window covers this environment now."""

    def __init__(self, message: str, freeze: Freeze, deployment=None) -> None:
        super().__init__(message, deployment)
        self.freeze = freeze


class NameNotConfirmed(ActionRefused):
    """The environment's name was asked for and not typed correctly (a field error)."""

    http_status = 400
    field = "confirm_name"

    def __init__(self, message: str, environment_name: str, deployment=None) -> None:
        super().__init__(message, deployment)
        self.environment_name = environment_name


class TokenScopeRefused(ActionRefused):
    """The personal API token the person acts through does not allow this change."""

    http_status = 403


class ReasonRequired(ActionRefused):
    """A reason is required for changes here and none was given (a field error)."""

    http_status = 400
    field = "reason"


class DuplicateRequest(ActionRefused):
    """The same change already waits for approval: asking again would make a second request."""

    def __init__(self, message: str, change_request: ChangeRequest, deployment=None) -> None:
        super().__init__(message, deployment)
        self.change_request = change_request


class ApprovalNeeded(ActionRefused):
    """Not sent: recorded as a change request for another person to approve."""

    def __init__(self, message: str, change_request: ChangeRequest, deployment=None) -> None:
        super().__init__(message, deployment)
        self.change_request = change_request


class RequestRefused(ActionRefused):
    """A step on a change request that this person may not take now (plain words)."""


class RequestStale(RequestRefused):
    """The deployment changed since the request was made; nothing was sent."""


# The gate


def gate(*, actor: Actor, user, change: Change, controls: Controls | None = None, at=None) -> None:
    """Let a change through, or refuse it (recorded) by raising one of:

    - `TokenScopeRefused`: the person acts through an API token whose scope leaves this out;
    - `ChangeFrozen`: a freeze window covers an environment of the change now (an Admin's
      `controls.freeze_override` reason lets it through, recorded as an override); a change due
      later (`controls.due_at`) is not checked now: it waits for the window's end when due;
    - `ReasonRequired`: changes here need a reason (always in live environments);
    - `NameNotConfirmed`: a rule asks for the environment's name and it was not typed;
    - `DuplicateRequest`: the same change already waits for approval;
    - `ApprovalNeeded`: a rule asks for approval; a `ChangeRequest` was recorded instead
      (`.change_request`), unless `controls.change_request` is the approved request itself.

    Call it after reading the deployment (so `change.before` is current) and before recording
    the attempt. Returns None when the write may be sent.
    """
    controls = controls or Controls()
    _check_token(actor, user, change)
    if controls.due_at is None:
        _check_freeze(actor, user, change, controls, at)
    if controls.change_request is not None:
        return
    _check_reason(actor, change)
    _check_name(actor, change, controls)
    rules = [rule_for(environment) for environment in change.environments]
    needed = max((rule.approvals_required for rule in rules if rule.needs_approval), default=0)
    if controls.ask_approval:
        needed = max(needed, 1)
    if needed:
        _check_duplicate(actor, change)
        request = _open_request(actor, user, change, needed, controls)
        message = ngettext(
            "This change needs approval, so nothing was sent to Patchworks: it is recorded as "
            "change request %(number)s, waiting for %(count)d approval from another person.",
            "This change needs approval, so nothing was sent to Patchworks: it is recorded as "
            "change request %(number)s, waiting for %(count)d approvals from another person.",
            needed,
        ) % {"number": request.pk, "count": needed}
        raise ApprovalNeeded(message, request)


def needs_reason(environment: Any) -> bool:
    """A reason is asked for everywhere by setting, and always in live environments (the
    global deployment runs in live ones too)."""
    return settings.CONSOLE_REQUIRE_REASON or "live" in types_of(environment)


def _check_token(actor, user, change: Change) -> None:
    """A token narrows what its person's role allows (`tokens.scope`), never widens it."""
    problem = token_scope.refusal(user, change.environments)
    if problem:
        _refuse(actor, change, TokenScopeRefused(problem))


def _check_reason(actor, change: Change) -> None:
    if change.reason.strip() or not any(needs_reason(e) for e in change.environments):
        return
    shown, stored = both(
        lambda: gettext("Please say why: changes in live environments need a reason.")
    )
    _refuse(actor, change, ReasonRequired(shown), stored=stored)


def _check_duplicate(actor, change: Change) -> None:
    open_request = open_request_for(change.target.deployment_id, change.action)
    if open_request is None:
        return
    shown, stored = both(
        lambda: (
            gettext(
                "This change already waits for approval as change request %(number)s. "
                "Nothing new was recorded."
            )
            % {"number": open_request.pk}
        )
    )
    _refuse(actor, change, DuplicateRequest(shown, open_request), stored=stored)


def open_request_for(deployment_id: str, action: str) -> ChangeRequest | None:
    """The open request for this change of this deployment, if there is one."""
    if not deployment_id or action == "create":
        return None
    return (
        ChangeRequest.objects.filter(
            deployment_id=deployment_id, action=action, status__in=ChangeRequest.OPEN_STATUSES
        )
        .order_by("-pk")
        .first()
    )


def _refuse(actor, change: Change, refusal: ActionRefused, *, stored: str = "") -> None:
    audit.record_refusal(
        actor=actor,
        action=change.action,
        target=change.target,
        message=stored or refusal.message,
        reason=change.reason,
        before=change.before,
        after=change.after,
    )
    raise refusal


def _check_freeze(actor, user, change: Change, controls: Controls, at) -> None:
    for environment in change.environments:
        freeze = freeze_in_force(environment, at)
        if freeze is None:
            continue
        override = " ".join(controls.freeze_override.split())[:500]
        if override and user.has_perm(BREAK_GLASS_PERMISSION):
            record_control(
                actor,
                Action.FREEZE_OVERRIDE,
                change.target,
                change,
                reason=override,
                message=later(partial(_overridden_words, freeze)),
            )
            return
        shown, stored = both(partial(_frozen_words, environment, freeze, bool(override)))
        audit.record_refusal(
            actor=actor,
            action=change.action,
            target=change.target,
            message=stored,
            reason=change.reason,
            before=change.before,
            after=change.after,
        )
        raise ChangeFrozen(shown, freeze)


def _overridden_words(freeze: Freeze) -> str:
    return f"Freeze window: {freeze.window.when_text}. {freeze.window.description}"


def _frozen_words(environment, freeze: Freeze, override: bool) -> str:
    where = environment.name or gettext("this environment")
    words = {"where": where, "freeze": freeze.text}
    message = gettext("Changes to %(where)s are refused: %(freeze)s. Nothing was sent.") % words
    if override:
        message += " " + gettext("Only an Admin can override a freeze window.")
    return message


def _check_name(actor, change: Change, controls: Controls) -> None:
    if controls.confirmed_elsewhere:
        return
    for environment in change.environments:
        name = name_to_confirm(environment)
        if name and not names_match(controls.confirm_name, name):
            message = gettext("Type the environment's name, %(name)s, to confirm.") % {"name": name}
            audit.record_refusal(
                actor=actor,
                action=change.action,
                target=change.target,
                message="The environment's name was not typed correctly.",
                reason=change.reason,
                before=change.before,
                after=change.after,
            )
            raise NameNotConfirmed(message, name)


# Change requests


def _open_request(actor, user, change: Change, needed: int, controls: Controls):
    target = change.target
    now = timezone.now()
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            **target.identity(),
            action=change.action,
            expected=change.before,
            proposed=change.proposed,
            after=change.after,
            summary=stored_summary(
                lambda: summary(change.action, target, change.before, change.after)
            ),
            reason=change.reason,
            requested_by=user,
            approvals_required=needed,
            apply_when_approved=controls.apply_when_approved or controls.until is not None,
            due_at=controls.due_at,
            until=controls.until,
            requested_at=now,
            expires_at=now + timedelta(days=settings.CONSOLE_CHANGE_REQUEST_DAYS),
        )
        asked = record_control(actor, Action.REQUEST, target, change, request=request)
        _tell_approvers(asked, request)
    return request


def open_request_for_many(
    *,
    actor: Actor,
    user,
    action: str,
    refs: list[DeploymentRef],
    reason: str,
    bulk_job_id: int,
    needed: int,
) -> ChangeRequest:
    """One request for a bulk job's items that need approval, listing them."""
    now = timezone.now()
    places = sorted({ref.environment_name for ref in refs if ref.environment_name})
    text = stored_summary(lambda: many_summary(action, refs, bulk_job_id))
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            action=action,
            expected={"items": [ref.identity() for ref in refs]},
            proposed={"deployment_ids": [ref.deployment_id for ref in refs]},
            after={"enabled": action == "enable"},
            summary=text,
            reason=reason,
            requested_by=user,
            approvals_required=needed,
            apply_when_approved=True,
            requested_at=now,
            expires_at=now + timedelta(days=settings.CONSOLE_CHANGE_REQUEST_DAYS),
            bulk_job_id=bulk_job_id,
            environment_name=", ".join(places)[:255],
            environment_type="live" if any(ref.is_live for ref in refs) else "",
        )
        change = Change(action, request.ref, (), None, request.after, {}, reason)
        asked = record_control(actor, Action.REQUEST, request.ref, change, request=request)
        _tell_approvers(asked, request)
    return request


def _tell_approvers(asked: AuditEvent, request: ChangeRequest) -> None:
    """Those who may approve the request hear that it waits for them (if they subscribed to
    that), in the transaction that records it."""
    asker = accounts_of(request.requested_by)
    people = get_user_model().objects.filter(is_active=True).exclude(pk__in=asker)
    approvers = [person for person in people if may_decide(person, request)]
    outbox.notify(asked, kind=events.KIND_REQUEST_FOR_ME, audience=approvers)


def record_control(
    actor, action, target, change=None, *, request=None, reason="", message=""
) -> AuditEvent:
    """One row for a step of change control (asked, approved, declined, overrode ...)."""
    if request is not None:
        before, after = request.expected, request.after
        kind = request.action
    else:
        before, after, kind = change.before, change.after, change.action
    details = {**(after or {}), "change": kind}
    if request is not None:
        details["change_request"] = request.pk
    return audit.record_local(
        actor=actor,
        action=action,
        target=target,
        before=before,
        after=details,
        reason=reason or (change.reason if change else ""),
        message=message,
    )


def may_decide(user, request: ChangeRequest) -> bool:
    """Whether `user`'s role allows the change itself where it is made (and so approving or
    declining it): an approver must hold the scope of the change."""
    return may_act(user, request.action, request.ref)
