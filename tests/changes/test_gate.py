"""The gate on its own, as scheduled changes and bulk items call it, and its plain sentences."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.changes.gate import (
    ApprovalNeeded,
    Change,
    ChangeFrozen,
    Controls,
    NameNotConfirmed,
    gate,
)
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.deployments import reads
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import VirtualEnvironment
from tests.changes.helpers import freeze_now, protect
from tests.factories import deployment as deployment_factory

pytestmark = pytest.mark.django_db

LIVE = EnvironmentRef(id="7", name="UK Live", type="live")
TARGET = DeploymentRef(
    deployment_id="70",
    flow_version_id="5",
    flow_name="Orders",
    environment_id="7",
    environment_name="UK Live",
    environment_type="live",
)


def change(action: str = "disable", environments=(LIVE,)) -> Change:
    before = {"enabled": True, "priority": 3, "flow_version_iteration": 2}
    return Change(
        action=action,
        target=TARGET,
        environments=environments,
        before=before,
        after={**before, "enabled": False},
        reason="maintenance",
    )


def test_without_rules_or_windows_it_lets_the_change_through(operator):
    assert gate(actor=Actor(user=operator), user=operator, change=change()) is None
    assert not AuditEvent.objects.exists()


def test_a_change_needing_approval_becomes_a_request(operator):
    protect("live", approvals=2)
    with pytest.raises(ApprovalNeeded) as raised:
        gate(
            actor=Actor(user=operator, name="Oscar Operator"),
            user=operator,
            change=change(),
            controls=Controls(apply_when_approved=True),
        )
    request = raised.value.change_request
    assert request == ChangeRequest.objects.get()
    assert (request.approvals_required, request.apply_when_approved) == (2, True)
    assert request.summary == "Disable Orders version 2 in UK Live (live)"
    assert "waiting for 2 approvals" in raised.value.message
    event = AuditEvent.objects.get()
    assert audit.describe(event) == (
        f"Oscar Operator asked for approval to disable Orders version 2 in UK Live (live) "
        f"(change request {request.pk}) — reason: maintenance"
    )


def test_an_approved_request_passes_without_a_new_one(operator):
    protect("live", confirm_name=True)
    request = ChangeRequest(pk=1)
    controls = Controls(change_request=request)
    assert (
        gate(actor=Actor(user=operator), user=operator, change=change(), controls=controls) is None
    )
    assert not ChangeRequest.objects.exists()


def test_a_scheduled_change_confirmed_earlier_skips_the_name_but_not_the_freeze(operator):
    protect("live", approvals=0, confirm_name=True)
    controls = Controls(confirmed_elsewhere=True)
    assert (
        gate(actor=Actor(user=operator), user=operator, change=change(), controls=controls) is None
    )
    with pytest.raises(NameNotConfirmed):
        gate(actor=Actor(user=operator), user=operator, change=change())
    freeze_now("live")
    with pytest.raises(ChangeFrozen) as raised:
        gate(actor=Actor(user=operator), user=operator, change=change(), controls=controls)
    assert raised.value.freeze.window.description == "CHG-42 release"


def test_a_move_into_a_protected_environment_needs_approval(editor):
    protect("live")
    test_environment = EnvironmentRef(id="8", name="UK Test", type="test")
    with pytest.raises(ApprovalNeeded):
        gate(
            actor=Actor(user=editor),
            user=editor,
            change=change("update", environments=(test_environment, LIVE)),
        )


def test_an_environment_patchworks_did_not_type_is_typed_from_the_pickers(operator, monkeypatch):
    """Reads fill an environment known only by its id from the pickers, so change control sees
    that it is live."""
    monkeypatch.setattr(
        reads,
        "pickers_get",
        lambda user: reads.Pickers(
            environments=[VirtualEnvironment(id="7", name="UK Live", type="live")],
            packages=[],
            flows=[],
        ),
    )
    untyped = deployment_factory(environment=None)
    untyped = replace(untyped, virtual_environment_id="7", virtual_environment=None)
    [placed] = reads.named(operator, [untyped])
    assert EnvironmentRef.of(placed) == EnvironmentRef(id="7", name="UK Live", type="live")


@pytest.mark.parametrize(
    ("action", "sentence"),
    [
        (
            "approve",
            "Olga Other approved change request 4 to disable Orders version 2 in UK Live (live)",
        ),
        (
            "decline",
            "Olga Other declined change request 4 to disable Orders version 2 in UK Live (live)"
            " — reason: maintenance",
        ),
        (
            "break_glass",
            "Olga Other applied change request 4 to disable Orders version 2 in UK Live (live)"
            " without waiting for approval — reason: maintenance",
        ),
        (
            "request_edit",
            "Olga Other edited change request 4 to disable Orders version 2 in UK Live (live); its"
            " approvals were reset — reason: maintenance",
        ),
    ],
)
def test_each_step_reads_as_one_plain_sentence(action, sentence):
    reason = "" if action == "approve" else "maintenance"
    event = audit.record_local(
        actor=Actor(name="Olga Other"),
        action=action,
        target=TARGET,
        before={"enabled": True, "flow_version_iteration": 2},
        after={
            "enabled": False,
            "flow_version_iteration": 2,
            "change": "disable",
            "change_request": 4,
        },
        reason=reason,
    )
    assert audit.describe(event) == sentence


def test_the_global_deployment_follows_live_rules_and_freezes(operator, settings):
    protect("live")
    global_deployment = change("disable", environments=(EnvironmentRef(),))
    with pytest.raises(ApprovalNeeded):
        gate(actor=Actor(user=operator), user=operator, change=global_deployment)
    settings.CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE = False
    gate(actor=Actor(user=operator), user=operator, change=global_deployment)
    settings.CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE = True
    freeze_now("live")
    with pytest.raises(ChangeFrozen):
        gate(actor=Actor(user=operator), user=operator, change=global_deployment)
