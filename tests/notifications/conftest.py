"""A local receiver and helpers for the notification tests."""

from __future__ import annotations

import pytest

from deployments_ui import audit
from deployments_ui.accounts import crypto
from deployments_ui.audit import Actor
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.notifications import receiver as receivers
from deployments_ui.notifications.models import Webhook

SECRET = "whsec_test-secret"
LIVE = DeploymentRef(
    deployment_id="101",
    flow_version_id="11",
    flow_id="1",
    flow_name="Orders → Shopify",
    environment_id="2",
    environment_name="UK Live",
    environment_type="live",
)
TEST_ENV = DeploymentRef(
    deployment_id="202",
    flow_version_id="12",
    flow_id="4",
    flow_name="Stock levels",
    environment_id="3",
    environment_name="UK Test",
    environment_type="test",
)


@pytest.fixture
def receiver(settings):
    """A local receiver that webhooks may reach (plain http, loopback allowed for the test)."""
    settings.CONSOLE_WEBHOOK_ALLOW_HTTP = True
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = True
    running = receivers.start()
    yield running
    running.stop()


def make_webhook(url: str, owner=None, **filters) -> Webhook:
    return Webhook.objects.create(
        name=filters.pop("name", "Ops channel"),
        url=url,
        format=filters.pop("format", Webhook.Format.JSON),
        encrypted_secret=crypto.encrypt(SECRET),
        owner=owner,
        **filters,
    )


def change(user, *, action="disable", outcome="succeeded", target=LIVE):
    """A console change as the services write it: an attempt, then its outcome."""
    actor = Actor(user=user, username=user.username, name=user.get_full_name())
    attempt = audit.record_attempt(actor=actor, action=action, target=target, reason="test")
    return audit.record_outcome(attempt, outcome=outcome, upstream_status=200)


def drift(*, target=LIVE, action="disable"):
    return audit.record_external(
        action=action,
        target=target,
        before={"enabled": True},
        after={"enabled": False},
        actor_name="Dana Dashboard",
    )
