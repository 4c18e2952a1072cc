"""Change control's rules: which environments need approval or their name typed, and freezes.

Small tables read at most every couple of seconds per process (pages read them for every row).
Setting a rule or a freeze window is audited with its before and after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.changes.models import ChangeRule, FreezeWindow
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.core.words import later

Action = AuditEvent.Action
SNAPSHOT_SECONDS = 2.0


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
        shown = pgettext("a day and time (date format)", "D d M H:i")
        words = {
            "ends": date_format(self.ends_at.astimezone(zone), shown),
            "zone": self.window.time_zone,
        }
        text = gettext("a freeze window is in force until %(ends)s %(zone)s") % words
        return f"{text} ({self.window.description})" if self.window.description else text


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


def types_of(environment: Any) -> tuple[str, ...]:
    """The environment types whose rules and freeze windows apply: its own type; for the global
    deployment (no environment), which runs in every environment, every type (by setting)."""
    ref = EnvironmentRef.of(environment)
    if ref.type:
        return (ref.type,)
    if not ref.id and settings.CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE:
        return ("live", "test")
    return ()


def rule_for(environment: Any) -> Rule:
    """The rule for one environment: its own, else its type's (the strictest of its types' for
    the global deployment), else none."""
    ref = EnvironmentRef.of(environment)
    rules = _rules()
    row = rules.get(("", ref.id)) if ref.id else None
    rows = [row] if row else [rules[(kind, "")] for kind in types_of(ref) if (kind, "") in rules]
    if not rows:
        return Rule()
    approving = [r for r in rows if r.needs_approval]
    return Rule(
        needs_approval=bool(approving),
        approvals_required=max((max(1, r.approvals_required) for r in approving), default=0),
        confirm_name=any(r.confirm_name for r in rows),
    )


def needs_approval(environment: Any) -> bool:
    return rule_for(environment).needs_approval


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
    kinds = types_of(ref) or (ref.type,)
    for window in _windows():
        if any(window.covers(ref.id, kind) for kind in kinds):
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
    old = rule_words(existing)
    if environment_id and not (needs_approval or confirm_name) and existing is None:
        return None
    rule = existing or ChangeRule(**scope)
    rule.environment_name = environment_name
    rule.needs_approval = needs_approval
    rule.approvals_required = max(1, approvals_required)
    rule.confirm_name = confirm_name
    rule.updated_at, rule.updated_by = timezone.now(), user
    new = rule_words(rule)
    if new == old:
        return existing
    rule.save()
    forget_snapshots()
    where = environment_name or environment_id or f"every {environment_type} environment"
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=DeploymentRef(
            environment_id=environment_id,
            environment_name=environment_name,
            environment_type=environment_type,
        ),
        message=f"Set change control for {where}: {_rule_text(new)} (was: {_rule_text(old)})",
        before=old,
        after=new,
    )
    return rule


def clear_rule(*, actor: Actor, environment_id: str) -> None:
    """An environment goes back to its type's rule; audited when it had its own."""
    rule = ChangeRule.objects.filter(environment_type="", environment_id=environment_id).first()
    if rule is None:
        return
    rule.delete()
    forget_snapshots()
    old = rule_words(rule)
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=DeploymentRef(environment_id=environment_id, environment_name=rule.environment_name),
        message=(
            f"Put change control for {rule.environment_name or environment_id} back to its "
            f"type's rule (was: {_rule_text(old)})"
        ),
        before=old,
        after={"Rule": "its environment type's"},
    )


def rule_words(rule: ChangeRule | None) -> dict[str, str]:
    """A rule as the audit trail keeps it: each setting in plain words."""
    if rule is None or not (rule.needs_approval or rule.confirm_name):
        return {"Approval": "not needed", "Typed name": "not asked for"}
    count = max(1, rule.approvals_required)
    return {
        "Approval": (
            f"{count} approval{'s' if count > 1 else ''} needed"
            if rule.needs_approval
            else "not needed"
        ),
        "Typed name": "asked for" if rule.confirm_name else "not asked for",
    }


def _rule_text(words: dict[str, str]) -> str:
    """'needs 2 approvals, type the name to confirm', 'no approval, no name to type'."""
    if "Approval" not in words:
        return "its type's rule"
    approval = words["Approval"].removesuffix(" needed")
    approval = "no approval" if approval == "not" else f"needs {approval}"
    name = "type the name to confirm" if words["Typed name"] == "asked for" else "no name to type"
    return f"{approval}, {name}"


def window_words(window: FreezeWindow) -> dict[str, str]:
    """A freeze window as the audit trail keeps it."""
    return {
        "When": later(lambda: window.when_text),
        "Applies to": window.scope_text,
        "Description": window.description or "—",
    }


def save_window(*, actor: Actor, user, window: FreezeWindow) -> FreezeWindow:
    window.created_by = user
    window.save()
    forget_snapshots()
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=DeploymentRef(),
        message=later(
            lambda: (
                f"Added a freeze window {window.when_text} for {window.scope_text}"
                + (f": {window.description}" if window.description else "")
            )
        ),
        after=window_words(window),
    )
    return window


def delete_window(*, actor: Actor, window_id: int) -> None:
    window = FreezeWindow.objects.filter(pk=window_id).first()
    if window is None:
        return
    before = window_words(window)
    window.delete()
    forget_snapshots()
    audit.record_local(
        actor=actor,
        action=Action.CONTROL_SETTINGS,
        target=DeploymentRef(),
        message=f"Removed the freeze window {before['When']} for {before['Applies to']}",
        before=before,
    )
