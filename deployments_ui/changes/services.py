"""Change control: the gate every write passes, change requests, and freeze windows.

`gate()` is the one check. `deployments_ui.services`' write functions (enable, disable, create,
update, delete) call it after they have read the deployment and before they record or send
anything, and so does anything else that writes (scheduled changes, bulk items) through them.
It refuses a change during a freeze window (unless an Admin overrides with a reason), checks
the typed environment name where a rule asks for it, and turns a change that needs approval
into a `ChangeRequest` instead of a write. Every step is an audit event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.audit.entries import actor_display
from deployments_ui.changes.models import ChangeDecision, ChangeRequest, ChangeRule, FreezeWindow
from deployments_ui.models import AuditEvent
from deployments_ui.notifications import events, outbox
from deployments_ui.patchworks import NotFound, PatchworksError
from deployments_ui.services import ActionRefused

Action = AuditEvent.Action
Status = ChangeRequest.Status
# The permission a person needs to make (and so to approve) each kind of change.
CHANGE_PERMISSIONS = {
    "enable": "deployments_ui.toggle_deployments",
    "disable": "deployments_ui.toggle_deployments",
    "create": "deployments_ui.change_deployments",
    "update": "deployments_ui.change_deployments",
    "delete": "deployments_ui.change_deployments",
}
BREAK_GLASS_PERMISSION = "deployments_ui.break_glass"
# What must be unchanged at apply time for a request to still mean what its approvers saw.
STALE_KEYS = {
    "enabled": "state",
    "enabled_at": "enabled at",
    "priority": "priority",
    "virtual_environment_id": "environment",
}
SNAPSHOT_SECONDS = 2.0


# What the gate is given


@dataclass(frozen=True)
class EnvironmentRef:
    """An environment as change control sees it: id, name and type (any may be empty)."""

    id: str = ""
    name: str = ""
    type: str = ""

    @classmethod
    def of(cls, thing: Any) -> EnvironmentRef:
        """From a Deployment, a VirtualEnvironment, an EnvironmentRef or None (global)."""
        if thing is None:
            return cls()
        if isinstance(thing, EnvironmentRef):
            return thing
        if hasattr(thing, "virtual_environment_id"):
            environment = getattr(thing, "virtual_environment", None)
            return cls(
                id=str(thing.virtual_environment_id or ""),
                name=(environment.name if environment else "") or "",
                type=(environment.type if environment else "") or "",
            )
        return cls(
            id=str(getattr(thing, "id", "") or ""),
            name=getattr(thing, "name", "") or "",
            type=getattr(thing, "type", "") or "",
        )


@dataclass(frozen=True)
class Controls:
    """What the person gave with a change, for the gate to check.

    `confirm_name`: the environment name they typed. `confirmed_elsewhere`: the caller asked for
    it itself earlier (a scheduled change confirmed when it was scheduled). `freeze_override`:
    an Admin's reason for writing during a freeze window. `apply_when_approved`: a request made
    now applies itself once approved. `change_request`: the approved (or break-glass) request
    being applied, so no new request is made.
    """

    confirm_name: str = ""
    confirmed_elsewhere: bool = False
    freeze_override: str = ""
    apply_when_approved: bool = False
    change_request: ChangeRequest | None = None


@dataclass(frozen=True)
class Change:
    """One change to one deployment, as the gate sees it."""

    action: str
    target: AuditTarget
    environments: tuple[EnvironmentRef, ...]
    before: dict | None
    after: dict | None
    # What applying it later sends: the arguments of the services' write function.
    proposed: dict = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Rule:
    needs_approval: bool = False
    approvals_required: int = 0
    confirm_name: bool = False


@dataclass(frozen=True)
class Freeze:
    """A freeze window's occurrence in force (or the next one)."""

    window: FreezeWindow
    starts_at: datetime
    ends_at: datetime

    @property
    def text(self) -> str:
        zone = self.window.zone
        ends = self.ends_at.astimezone(zone).strftime("%a %d %b %H:%M")
        about = f" ({self.window.description})" if self.window.description else ""
        return f"a freeze window is in force until {ends} {self.window.time_zone}{about}"


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


class ApprovalNeeded(ActionRefused):
    """Not sent: recorded as a change request for another person to approve."""

    def __init__(self, message: str, change_request: ChangeRequest, deployment=None) -> None:
        super().__init__(message, deployment)
        self.change_request = change_request


class RequestRefused(ActionRefused):
    """A step on a change request that this person may not take now (plain words)."""


class RequestStale(RequestRefused):
    """The deployment changed since the request was made; nothing was sent."""


# Rules


_snapshots: dict[str, tuple[float, Any]] = {}


def _snapshot(name: str, load):
    """Small tables read at most every couple of seconds per process (pages read them per row)."""
    now = time.monotonic()
    cached = _snapshots.get(name)
    if cached and now - cached[0] < SNAPSHOT_SECONDS:
        return cached[1]
    value = load()
    _snapshots[name] = (now, value)
    return value


def forget_snapshots() -> None:
    _snapshots.clear()


def _rules() -> dict[tuple[str, str], ChangeRule]:
    return _snapshot(
        "rules",
        lambda: {(r.environment_type, r.environment_id): r for r in ChangeRule.objects.all()},
    )


def _windows() -> list[FreezeWindow]:
    return _snapshot("windows", lambda: list(FreezeWindow.objects.all()))


def rule_for(environment: Any) -> Rule:
    """The rule for one environment: its own, else its type's, else none (global: none)."""
    ref = EnvironmentRef.of(environment)
    rules = _rules()
    row = rules.get(("", ref.id)) if ref.id else None
    if row is None and ref.type:
        row = rules.get((ref.type, ""))
    if row is None:
        return Rule()
    return Rule(
        needs_approval=row.needs_approval,
        approvals_required=max(1, row.approvals_required) if row.needs_approval else 0,
        confirm_name=row.confirm_name,
    )


def name_to_confirm(environment: Any) -> str:
    """The name a person must type to change something in this environment, or ''."""
    ref = EnvironmentRef.of(environment)
    return ref.name if ref.name and rule_for(ref).confirm_name else ""


def names_match(typed: str, name: str) -> bool:
    return " ".join(typed.split()).casefold() == " ".join(name.split()).casefold()


# Freeze windows


def freeze_in_force(environment: Any, at: datetime | None = None) -> Freeze | None:
    """The freeze window covering `environment` at `at` (default now), if any.

    `environment` is a Deployment, a VirtualEnvironment, an EnvironmentRef or None (global).
    A scheduler should let a change due inside a window wait until `Freeze.ends_at`.
    """
    ref = EnvironmentRef.of(environment)
    at = at or timezone.now()
    found = []
    for window in _windows():
        if window.covers(ref.id, ref.type):
            occurrence = window.occurrence_at(at)
            if occurrence:
                found.append(Freeze(window, *occurrence))
    return max(found, key=lambda freeze: freeze.ends_at) if found else None


def next_freeze(environment: Any = None, at: datetime | None = None) -> Freeze | None:
    """The next freeze window to start for `environment` (any environment when None)."""
    at = at or timezone.now()
    ref = EnvironmentRef.of(environment) if environment is not None else None
    upcoming = []
    for window in _windows():
        if ref is None or window.covers(ref.id, ref.type):
            occurrence = window.next_occurrence(at)
            if occurrence:
                upcoming.append(Freeze(window, *occurrence))
    return min(upcoming, key=lambda freeze: freeze.starts_at) if upcoming else None


def freezes_in_force(at: datetime | None = None) -> list[Freeze]:
    """Every window in force now, whichever environments it covers."""
    at = at or timezone.now()
    return [
        Freeze(window, *occurrence)
        for window in _windows()
        if (occurrence := window.occurrence_at(at))
    ]


# The gate


def gate(*, actor: Actor, user, change: Change, controls: Controls | None = None, at=None) -> None:
    """Let a write through, or refuse it (recorded) by raising one of:

    - `ChangeFrozen`: a freeze window covers an environment of the change (an Admin's
      `controls.freeze_override` reason lets it through, recorded as an override);
    - `NameNotConfirmed`: a rule asks for the environment's name and it was not typed;
    - `ApprovalNeeded`: a rule asks for approval; a `ChangeRequest` was recorded instead
      (`.change_request`), unless `controls.change_request` is the approved request itself.

    Call it after reading the deployment (so `change.before` is current) and before recording
    the attempt. Returns None when the write may be sent.
    """
    controls = controls or Controls()
    _check_freeze(actor, user, change, controls, at)
    if controls.change_request is not None:
        return
    _check_name(actor, change, controls)
    rules = [rule_for(environment) for environment in change.environments]
    needed = max((rule.approvals_required for rule in rules if rule.needs_approval), default=0)
    if needed:
        request = _open_request(actor, user, change, needed, controls.apply_when_approved)
        message = (
            f"This change needs approval, so nothing was sent to Patchworks: it is recorded as "
            f"change request {request.pk}, waiting for "
            f"{needed} approval{'s' if needed > 1 else ''} from another person."
        )
        raise ApprovalNeeded(message, request)


def _check_freeze(actor, user, change: Change, controls: Controls, at) -> None:
    for environment in change.environments:
        freeze = freeze_in_force(environment, at)
        if freeze is None:
            continue
        override = " ".join(controls.freeze_override.split())[:500]
        if override and user.has_perm(BREAK_GLASS_PERMISSION):
            _record_control(
                actor,
                Action.FREEZE_OVERRIDE,
                change.target,
                change,
                reason=override,
                message=f"Freeze window: {freeze.window.when_text}. {freeze.window.description}",
            )
            return
        where = environment.name or "this environment"
        message = f"Changes to {where} are refused: {freeze.text}. Nothing was sent."
        if override:
            message += " Only an Admin can override a freeze window."
        audit.record_refusal(
            actor=actor,
            action=change.action,
            target=change.target,
            message=message,
            reason=change.reason,
            before=change.before,
            after=change.after,
        )
        raise ChangeFrozen(message, freeze)


def _check_name(actor, change: Change, controls: Controls) -> None:
    if controls.confirmed_elsewhere:
        return
    for environment in change.environments:
        name = name_to_confirm(environment)
        if name and not names_match(controls.confirm_name, name):
            message = f"Type the environment's name, {name}, to confirm."
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


def _open_request(actor, user, change: Change, needed: int, apply_when_approved: bool):
    target = change.target
    now = timezone.now()
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            action=change.action,
            flow_version_id=target.flow_version_id,
            deployment_id=target.deployment_id,
            flow_name=target.flow_name,
            environment_id=target.environment_id,
            environment_name=target.environment_name,
            environment_type=target.environment_type,
            expected=change.before,
            proposed=change.proposed,
            after=change.after,
            summary=summary(change.action, target, change.before, change.after)[:500],
            reason=change.reason,
            requested_by=user,
            approvals_required=needed,
            apply_when_approved=apply_when_approved,
            requested_at=now,
            expires_at=now + timedelta(days=settings.CONSOLE_CHANGE_REQUEST_DAYS),
        )
        asked = _record_control(actor, Action.REQUEST, target, change, request=request)
        _tell_approvers(asked, request)
    return request


def _tell_approvers(asked: AuditEvent, request: ChangeRequest) -> None:
    """Those who may approve the request hear that it waits for them (if they subscribed to
    that), in the transaction that records it."""
    people = get_user_model().objects.filter(is_active=True).exclude(pk=request.requested_by_id)
    approvers = [person for person in people if may_decide(person, request)]
    outbox.notify(asked, kind=events.KIND_REQUEST_FOR_ME, audience=approvers)


def summary(action: str, target: AuditTarget, before: dict | None, after: dict | None) -> str:
    """The plain sentence of a change, e.g. 'Disable Orders v3 in UK Live (live)'."""
    state = before or after or {}
    name = target.flow_name or f"flow version {target.flow_version_id}"
    if state.get("flow_version_iteration"):
        name = f"{name} v{state['flow_version_iteration']}"
    place = target.environment_name or (
        f"environment {target.environment_id}" if target.environment_id else "no environment"
    )
    if target.environment_type:
        place = f"{place} ({target.environment_type})"
    if action == "create":
        disabled = "" if (after or {}).get("enabled", True) else ", not enabled yet"
        return f"Deploy {name} into {place}{disabled}"
    verb = {"enable": "Enable", "disable": "Disable", "delete": "Delete"}.get(action, "Change")
    text = f"{verb} {name} in {place}"
    if action == "update":
        moved = [
            f"{label.lower()} {old} → {new}"
            for label, old, new in audit.entries.state_changes(before, after)
            if old != new
        ]
        text += f": {', '.join(moved)}" if moved else ""
    return text


def request_target(request: ChangeRequest) -> AuditTarget:
    return AuditTarget(
        deployment_id=request.deployment_id,
        flow_version_id=request.flow_version_id,
        flow_name=request.flow_name,
        environment_id=request.environment_id,
        environment_name=request.environment_name,
        environment_type=request.environment_type,
    )


def _record_control(
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
    """Whether `user`'s role allows the change itself (and so approving or declining it)."""
    return user.has_perm(CHANGE_PERMISSIONS.get(request.action, "deployments_ui.nothing"))


def expire_due(now: datetime | None = None) -> int:
    """Close open requests past their time, one audit event each. Returns how many."""
    now = now or timezone.now()
    due = ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN_STATUSES, expires_at__lte=now)
    count = 0
    for request in due:
        with transaction.atomic():
            updated = ChangeRequest.objects.filter(
                pk=request.pk, status__in=ChangeRequest.OPEN_STATUSES
            ).update(status=Status.EXPIRED, closed_at=now)
            if updated:
                _record_control(
                    Actor.system("change control"),
                    Action.EXPIRE,
                    request_target(request),
                    request=request,
                    message=f"Not applied within {settings.CONSOLE_CHANGE_REQUEST_DAYS} days.",
                )
                count += 1
    return count


def _load(request_id: int) -> ChangeRequest:
    expire_due()
    try:
        return ChangeRequest.objects.select_related("requested_by").get(pk=request_id)
    except ChangeRequest.DoesNotExist as missing:
        raise RequestRefused("This change request does not exist.") from missing


def _refuse(actor, request: ChangeRequest, action: str, message: str, reason: str = ""):
    _record_control(
        actor, action, request_target(request), request=request, reason=reason, message=message
    )
    raise RequestRefused(message)


def approve(*, actor: Actor, user, request_id: int):
    """Approve a request; once it has enough approvals it may be applied (or applies itself).

    Returns (request, applied) where `applied` is the write's result when it applied itself.
    """
    request = _load(request_id)
    if request.status != Status.OPEN:
        raise RequestRefused(
            f"This request is not waiting for approval: it is {request.get_status_display()}."
        )
    if request.requested_by_id == user.pk:
        audit.record_refusal(
            actor=actor,
            action=Action.APPROVE,
            target=request_target(request),
            message="The person who asked for a change cannot approve it.",
        )
        raise RequestRefused("You asked for this change, so another person must approve it.")
    if not may_decide(user, request):
        raise RequestRefused(
            "Your role does not allow this kind of change, so you cannot approve it."
        )
    with transaction.atomic():
        if request.current_decisions().filter(user=user).exists():
            raise RequestRefused("You have already decided on this request.")
        try:
            with transaction.atomic():
                ChangeDecision.objects.create(
                    request=request, user=user, approved=True, revision=request.revision
                )
        except IntegrityError as twice:
            raise RequestRefused("You have already decided on this request.") from twice
        approvals = request.approvals().count()
        if approvals >= request.approvals_required:
            request.status = Status.APPROVED
            request.save(update_fields=["status"])
        _record_control(
            actor,
            Action.APPROVE,
            request_target(request),
            request=request,
            message=f"{approvals} of {request.approvals_required} approvals.",
        )
    if request.status == Status.APPROVED and request.apply_when_approved:
        requester = request.requested_by
        on_behalf = Actor(
            user=requester,
            username=requester.get_username(),
            name=requester.get_full_name().strip() or requester.get_username(),
            sign_in_method="system",
            request_id=actor.request_id,
        )
        return request, apply(actor=on_behalf, user=requester, request_id=request.pk)
    return request, None


def decline(*, actor: Actor, user, request_id: int, reason: str) -> ChangeRequest:
    """Decline a request, with a reason; it is closed and nothing is sent."""
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise RequestRefused("Please say why you decline this request.")
    request = _load(request_id)
    if not request.is_open:
        raise RequestRefused(f"This request is already {request.get_status_display()}.")
    if request.requested_by_id == user.pk:
        raise RequestRefused("You asked for this change, so another person must decide on it.")
    if not may_decide(user, request):
        raise RequestRefused(
            "Your role does not allow this kind of change, so you cannot decline it."
        )
    with transaction.atomic():
        ChangeDecision.objects.create(
            request=request, user=user, approved=False, reason=reason, revision=request.revision
        )
        request.status, request.closed_at = Status.DECLINED, timezone.now()
        request.save(update_fields=["status", "closed_at"])
        _record_control(
            actor, Action.DECLINE, request_target(request), request=request, reason=reason
        )
    return request


def edit(
    *,
    actor: Actor,
    user,
    request_id: int,
    reason: str,
    apply_when_approved: bool,
    priority: int | str | None = "unchanged",
) -> ChangeRequest:
    """The requester changes their request; every approval given so far is reset."""
    request = _load(request_id)
    if request.requested_by_id != user.pk:
        raise RequestRefused("Only the person who asked for the change can edit the request.")
    if not request.is_open:
        raise RequestRefused(f"This request is already {request.get_status_display()}.")
    with transaction.atomic():
        request.reason = " ".join(reason.split())[:500]
        request.apply_when_approved = apply_when_approved
        if priority != "unchanged" and request.action in ("create", "update"):
            _set_priority(request, priority)
        request.revision += 1
        request.status = Status.OPEN
        request.edited_at = timezone.now()
        request.save()
        _record_control(
            actor,
            Action.REQUEST_EDIT,
            request_target(request),
            request=request,
            reason=request.reason,
            message="Approvals given before the edit were reset.",
        )
    return request


def _set_priority(request: ChangeRequest, priority) -> None:
    if request.action == "update":
        changes = dict(request.proposed.get("changes", {}))
        changes["priority"] = priority
        request.proposed = {**request.proposed, "changes": changes}
    else:
        request.proposed = {**request.proposed, "priority": priority}
    request.after = {**(request.after or {}), "priority": priority}
    request.summary = summary(
        request.action, request_target(request), request.expected, request.after
    )[:500]


def apply(
    *,
    actor: Actor,
    user,
    request_id: int,
    break_glass_reason: str = "",
    freeze_override: str = "",
):
    """Send an approved request's change, if the deployment is still as it expected.

    An Admin may apply an open request without approval, giving `break_glass_reason`.
    Raises RequestRefused (or RequestStale, ChangeFrozen, a PatchworksError); returns what the
    write returned.
    """
    from deployments_ui import services  # the write functions call this module's gate

    request = _load(request_id)
    break_glass = " ".join(break_glass_reason.split())[:500]
    if break_glass:
        if not user.has_perm(BREAK_GLASS_PERMISSION):
            raise RequestRefused("Only an Admin can apply a change without approval.")
        if not request.is_open:
            raise RequestRefused(f"This request is already {request.get_status_display()}.")
    else:
        if request.status != Status.APPROVED:
            raise RequestRefused(
                f"This request cannot be applied: it is {request.get_status_display()}."
            )
        approver = request.approvals().filter(user=user).exists()
        if request.requested_by_id != user.pk and not approver:
            raise RequestRefused("Only the person who asked, or an approver, can apply it.")
    current = None
    if request.action != "create":
        current = _still_as_expected(actor, user, request)
    if break_glass:
        request.break_glass_reason = break_glass
        request.save(update_fields=["break_glass_reason"])
        _record_control(
            actor, Action.BREAK_GLASS, request_target(request), request=request, reason=break_glass
        )
    controls = Controls(change_request=request, freeze_override=freeze_override)
    reason = _write_reason(request)
    try:
        result = _send(services, actor, user, request, current, controls, reason)
    except ChangeFrozen:
        raise
    except (PatchworksError, ActionRefused) as error:
        _close(request, Status.FAILED, user, error.message)
        raise
    _close(request, Status.APPLIED, user, "Applied.")
    return result


def _write_reason(request: ChangeRequest) -> str:
    reason = f"{request.reason} — " if request.reason else ""
    reason += f"change request {request.pk}"
    if request.break_glass_reason:
        reason += f", break glass: {request.break_glass_reason}"
    else:
        names = ", ".join(
            decision.user.get_full_name() or decision.user.get_username()
            for decision in request.approvals().select_related("user")
        )
        reason += f", approved by {names}" if names else ""
    return reason


def _send(services, actor, user, request, current, controls, reason):
    proposed = request.proposed
    if request.action in ("enable", "disable"):
        return services.deployment_set_enabled(
            actor=actor,
            user=user,
            flow_version_id=request.flow_version_id,
            deployment_id=request.deployment_id,
            enabled=request.action == "enable",
            reason=reason,
            controls=controls,
        )
    if request.action == "delete":
        return services.deployment_delete(
            actor=actor,
            user=user,
            flow_version_id=request.flow_version_id,
            deployment_id=request.deployment_id,
            reason=reason,
            controls=controls,
        )
    if request.action == "update":
        return services.deployment_update(
            actor=actor,
            user=user,
            current=current,
            changes=dict(proposed.get("changes", {})),
            opened_values=services.editable_values(current),
            reason=reason,
            controls=controls,
        )
    return services.deployment_create(
        actor=actor,
        user=user,
        flow_version_id=request.flow_version_id,
        virtual_environment_id=proposed.get("virtual_environment_id"),
        priority=proposed.get("priority"),
        deploy_disabled=bool(proposed.get("deploy_disabled")),
        flow_name=request.flow_name,
        reason=reason,
        controls=controls,
    )


def _still_as_expected(actor, user, request: ChangeRequest):
    """Read the deployment now; refuse (recorded) when it is no longer as the request expected."""
    from deployments_ui import services

    try:
        current = services.deployment_get(
            user=user,
            flow_version_id=request.flow_version_id,
            deployment_id=request.deployment_id,
        )
    except NotFound:
        _stale(actor, request, "the deployment no longer exists", None)
    now = audit.deployment_state(current)
    expected = request.expected or {}
    changed = [label for key, label in STALE_KEYS.items() if expected.get(key) != now.get(key)]
    if changed:
        _stale(actor, request, ", ".join(changed) + " changed", current)
    return current


def _stale(actor, request: ChangeRequest, what: str, current) -> None:
    who = _who_changed(request, current)
    message = f"Stale: {who} changed it since the request was made ({what}). Nothing was sent."
    audit.record_refusal(
        actor=actor,
        action=request.action,
        target=request_target(request),
        message=message,
        reason=_write_reason(request),
        before=request.expected,
        after=audit.deployment_state(current) if current else None,
    )
    _close(request, Status.STALE, None, message)
    raise RequestStale(message, current)


def _who_changed(request: ChangeRequest, current) -> str:
    writes = [Action.ENABLE, Action.DISABLE, Action.UPDATE, Action.DELETE, Action.CREATE]
    event = (
        AuditEvent.objects.filter(
            deployment_id=request.deployment_id,
            occurred_at__gte=request.requested_at,
            outcome=AuditEvent.Outcome.SUCCEEDED,
            action__in=writes,
        )
        .order_by("-occurred_at", "-id")
        .first()
    )
    if event is not None:
        return actor_display(event)
    enabled_by = getattr(current, "enabled_by", None)
    if enabled_by is not None and getattr(current, "is_enabled", False):
        return enabled_by.name
    return "someone"


def _close(request: ChangeRequest, status: str, user, message: str) -> None:
    request.status = status
    request.closed_at = timezone.now()
    request.outcome_message = message[:2000]
    if user is not None:
        request.applied_by = user
    request.save(update_fields=["status", "closed_at", "outcome_message", "applied_by"])


# Lists


def open_requests():
    expire_due()
    return ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN_STATUSES).select_related(
        "requested_by"
    )


def waiting_for(user) -> list[ChangeRequest]:
    """Open requests this person may approve and has not decided on yet."""
    waiting = []
    for request in open_requests().filter(status=Status.OPEN).exclude(requested_by=user):
        if may_decide(user, request) and not request.current_decisions().filter(user=user):
            waiting.append(request)
    return waiting


def recent_requests(limit: int = 20):
    return ChangeRequest.objects.exclude(status__in=ChangeRequest.OPEN_STATUSES).select_related(
        "requested_by"
    )[:limit]


# Settings


def save_rule(
    *,
    actor: Actor,
    user,
    environment_type: str = "",
    environment_id: str = "",
    environment_name: str = "",
    needs_approval: bool,
    approvals_required: int,
    confirm_name: bool,
) -> ChangeRule | None:
    """Set (or, for an environment back to its type's rule, remove) one rule; audited."""
    scope = dict(environment_type=environment_type, environment_id=environment_id)
    existing = ChangeRule.objects.filter(**scope).first()
    old = _rule_text(existing)
    if environment_id and not (needs_approval or confirm_name) and existing is None:
        return None
    rule = existing or ChangeRule(**scope)
    rule.environment_name = environment_name
    rule.needs_approval = needs_approval
    rule.approvals_required = max(1, approvals_required)
    rule.confirm_name = confirm_name
    rule.updated_at, rule.updated_by = timezone.now(), user
    new = _rule_text(rule)
    if new == old:
        return existing
    rule.save()
    forget_snapshots()
    where = environment_name or environment_id or f"every {environment_type} environment"
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=AuditTarget(
            environment_id=environment_id,
            environment_name=environment_name,
            environment_type=environment_type,
        ),
        message=f"Change control for {where}: {new} (was: {old}).",
    )
    return rule


def clear_rule(*, actor: Actor, environment_id: str) -> None:
    """An environment goes back to its type's rule; audited when it had its own."""
    rule = ChangeRule.objects.filter(environment_type="", environment_id=environment_id).first()
    if rule is None:
        return
    rule.delete()
    forget_snapshots()
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=AuditTarget(environment_id=environment_id, environment_name=rule.environment_name),
        message=(
            f"Change control for {rule.environment_name or environment_id}: "
            f"back to its type's rule (was: {_rule_text(rule)})."
        ),
    )


def _rule_text(rule: ChangeRule | None) -> str:
    if rule is None or not (rule.needs_approval or rule.confirm_name):
        return "no approval, no name to type"
    parts = []
    if rule.needs_approval:
        count = max(1, rule.approvals_required)
        parts.append(f"needs {count} approval{'s' if count > 1 else ''}")
    else:
        parts.append("no approval")
    parts.append("type the name to confirm" if rule.confirm_name else "no name to type")
    return ", ".join(parts)


def save_window(*, actor: Actor, user, window: FreezeWindow) -> FreezeWindow:
    window.created_by = user
    window.save()
    forget_snapshots()
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=AuditTarget(),
        message=(
            f"Added a freeze window {window.when_text} for {window.scope_text}"
            + (f": {window.description}" if window.description else "")
            + "."
        ),
    )
    return window


def delete_window(*, actor: Actor, window_id: int) -> None:
    window = FreezeWindow.objects.filter(pk=window_id).first()
    if window is None:
        return
    text = f"{window.when_text} for {window.scope_text}"
    window.delete()
    forget_snapshots()
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=AuditTarget(),
        message=f"Removed the freeze window {text}.",
    )
