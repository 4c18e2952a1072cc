"""Writes whose outcome the console does not know are settled by reading, never by writing
again: an attempt left without an outcome, and one Patchworks did not answer in time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.deployments import settling
from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, find_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_ago(monkeypatch):
    """Attempts count as left by a stopped worker at once (the table refuses UPDATE, so their
    time cannot be moved back)."""
    monkeypatch.setattr(settling, "interrupted_after", lambda: timedelta(seconds=-1))


def attempt_for(item: dict, action: str, operator) -> AuditEvent:
    ref = DeploymentRef(deployment_id=str(item["id"]), flow_version_id=str(item["flow_version_id"]))
    return audit.record_attempt(
        actor=Actor(user=operator, name="Oscar Operator"), action=action, target=ref
    )


def test_an_attempt_without_an_outcome_is_settled_as_done_when_the_read_shows_it(
    operator, on_sandbox, long_ago
):
    item = find_deployment(on_sandbox, enabled=False)
    attempt = attempt_for(item, "disable", operator)
    on_sandbox.clear_requests()

    assert settling.settle_unfinished() == 1

    [outcome] = attempt.results.all()
    assert outcome.outcome == "succeeded" and "It did happen" in outcome.message
    assert api_writes(on_sandbox) == []
    assert settling.settle_unfinished() == 0


def test_an_unknown_outcome_is_settled_after_it_and_the_sentence_says_so(
    operator, on_sandbox, long_ago
):
    item = find_deployment(on_sandbox, enabled=True)
    attempt = attempt_for(item, "disable", operator)
    audit.record_outcome(attempt, outcome="unknown", message="Patchworks did not answer in time")
    assert "may have disabled" in audit.describe(attempt)

    assert settling.settle_unfinished() == 1

    outcomes = list(attempt.results.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["unknown", "failed"]
    sentence = audit.describe(attempt)
    assert sentence.startswith("Oscar Operator tried to disable")
    assert "checked afterwards: it did not happen" in sentence
    assert settling.settle_unfinished() == 0


def test_a_recent_attempt_is_left_to_its_own_worker(operator, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ref = DeploymentRef(deployment_id=str(item["id"]), flow_version_id=str(item["flow_version_id"]))
    audit.record_attempt(actor=Actor(user=operator), action="disable", target=ref)
    assert settling.settle_unfinished() == 0
