"""What the deployment pages take from change control: the person's controls, the notices."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from deployments_ui.accounts.access import BREAK_GLASS_PERMISSION
from deployments_ui.changes.gate import Controls
from deployments_ui.changes.models import ChangeRule
from deployments_ui.changes.rules import freeze_in_force, name_to_confirm, rule_for
from deployments_ui.core.identity import EnvironmentRef


def controls_from(request: HttpRequest) -> Controls:
    """The typed environment name, an Admin's freeze override and the auto-apply choice."""
    return Controls(
        confirm_name=request.POST.get("confirm_name", "")[:255],
        freeze_override=request.POST.get("freeze_override", "")[:500],
        apply_when_approved=bool(request.POST.get("apply_when_approved")),
    )


def control_context(user, environment: Any, *, confirm_error: str = "") -> dict:
    """What a confirmation or form shows for changes to `environment` (None: not known yet)."""
    if environment is None:
        rules = list(ChangeRule.objects.all())
        return {
            "control": {
                "unknown_environment": True,
                "confirm_name": "any" if any(rule.confirm_name for rule in rules) else "",
                "needs_approval": any(rule.needs_approval for rule in rules),
                "confirm_error": confirm_error,
            }
        }
    ref = EnvironmentRef.of(environment)
    rule = rule_for(ref)
    freeze = freeze_in_force(ref)
    return {
        "control": {
            "environment_name": ref.name,
            "confirm_name": name_to_confirm(ref),
            "needs_approval": rule.needs_approval,
            "approvals_required": rule.approvals_required,
            "freeze": freeze,
            "may_override": bool(freeze) and user.has_perm(BREAK_GLASS_PERMISSION),
            "confirm_error": confirm_error,
        }
    }
