"""People and events for the audit tests: the example sentence's Ann Smith and her disable."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth.models import User

from deployments_ui import audit
from deployments_ui.audit import Actor, AuditTarget
from tests.conftest import make_user

TARGET = AuditTarget(
    deployment_id="101",
    flow_version_id="11",
    flow_id="1",
    flow_name="Orders → Shopify",
    environment_id="2",
    environment_name="UK Live",
    environment_type="live",
)
ENABLED = {
    "deployment_id": "101",
    "enabled": True,
    "enabled_at": "2025-03-01T09:00:00+00:00",
    "enabled_by": "Dana Dashboard",
    "priority": 3,
    "virtual_environment_id": "2",
    "environment_name": "UK Live",
    "environment_type": "live",
    "flow_version_id": "11",
    "flow_version_iteration": 3,
}
DISABLED = {**ENABLED, "enabled": False, "enabled_at": None, "enabled_by": None}


@pytest.fixture(name="ann")
def ann_fixture(db) -> User:
    """An Operator named Ann Smith, as in the design's example sentence."""
    return make_user("ann", "Operator", full_name="Ann Smith")


def actor_for(user: User | None, **overrides) -> Actor:
    values = {
        "user": user,
        "username": user.get_username() if user else "",
        "name": user.get_full_name() if user else "",
        "sso_identity": "ann@example.com",
        "sign_in_method": "sso",
        "ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (test)",
        "request_id": "req-0001",
    }
    return Actor(**{**values, **overrides})


def console_disable(
    actor: Actor,
    *,
    outcome: str | None = "succeeded",
    reason: str = "supplier outage",
    target: AuditTarget = TARGET,
    message: str = "",
    status: int | None = None,
):
    """Record a disable as the services do: the attempt, then (unless None) its outcome."""
    attempt = audit.record_attempt(
        actor=actor,
        action="disable",
        target=target,
        before=ENABLED,
        after=DISABLED,
        reason=reason,
    )
    if outcome is not None:
        audit.record_outcome(attempt, outcome=outcome, message=message, upstream_status=status)
    return attempt


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
