"""The audit trail: recording, the hash chain, tamper evidence and the append-only table."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from deployments_ui import audit
from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.audit import chain as audit_chain
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.deployments import writes
from deployments_ui.models import AuditChainHead, AuditEvent
from deployments_ui.patchworks.types import parse_deployment
from tests.factories import (
    DISABLED,
    ENABLED,
    TARGET,
    actor_for,
    console_disable,
    deployment_json,
    make_user,
)

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger exists only on PostgreSQL"
)

DEPLOYMENT_JSON = deployment_json(
    id=101,
    virtual_environment_id=2,
    enabled_at="2025-03-01T09:00:00.000000Z",
    enabled_by=7,
    name="Orders → Shopify",
    flow_version_iteration=3,
    flowVersion={"id": 11, "flow_id": 1, "iteration": 3, "status": "Deployed"},
    virtualEnvironment={"id": 2, "name": "UK Live", "type": "live"},
    enabledBy={"id": 7, "name": "Dana Dashboard", "email": "dana@example.com"},
)


def tamper(sql: str, params: list) -> None:
    """Change rows behind the console's back (on PostgreSQL, as a superuser skipping triggers)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


# Recording


def test_an_attempted_write_is_two_rows(ann):
    attempt = console_disable(actor_for(ann), outcome="succeeded")

    rows = list(AuditEvent.objects.order_by("id"))
    assert len(rows) == 2
    first, result = rows
    assert first.pk == attempt.pk
    assert first.outcome == "pending" and first.completes_id is None
    assert result.completes_id == attempt.pk and result.outcome == "succeeded"
    assert result.actor_name == "Ann Smith" and result.deployment_id == "101"
    assert first.before == ENABLED and first.after == DISABLED


def test_the_attempt_records_who_where_and_what(ann):
    attempt = console_disable(actor_for(ann), outcome=None)
    attempt.refresh_from_db()

    assert attempt.user_id == ann.pk
    assert attempt.actor_username == "ann"
    assert attempt.sso_identity == "ann@example.com"
    assert attempt.sign_in_method == "sso"
    assert attempt.ip_address == "203.0.113.9"
    assert attempt.user_agent == "Mozilla/5.0 (test)"
    assert attempt.request_id == "req-0001"
    assert (attempt.flow_name, attempt.environment_name, attempt.environment_type) == (
        "Orders → Shopify",
        "UK Live",
        "live",
    )
    assert attempt.reason == "supplier outage"
    assert attempt.source == "console"


@pytest.mark.parametrize(
    ("outcome", "status", "message"),
    [
        ("succeeded", None, ""),
        ("failed", 422, "The priority must be between 1 and 5."),
        ("failed", 503, "Patchworks is not answering"),
        ("unknown", None, "Patchworks did not answer in time"),
    ],
)
def test_each_outcome_is_recorded(ann, outcome, status, message):
    attempt = console_disable(actor_for(ann), outcome=outcome, status=status, message=message)

    result = AuditEvent.objects.get(completes=attempt)
    assert (result.outcome, result.upstream_status, result.message) == (outcome, status, message)


def test_an_outcome_must_be_a_result(ann):
    attempt = console_disable(actor_for(ann), outcome=None)
    with pytest.raises(ValueError, match="outcome is one of"):
        audit.record_outcome(attempt, outcome="refused")


def test_an_attempt_gets_one_outcome_only(ann):
    attempt = console_disable(actor_for(ann), outcome="succeeded")
    with pytest.raises(ValueError, match="already has an outcome"):
        audit.record_outcome(attempt, outcome="failed")
    assert AuditEvent.objects.count() == 2


def test_a_create_outcome_carries_the_new_deployment_id(ann):
    target = DeploymentRef(flow_version_id="11", flow_name="Orders → Shopify", environment_id="2")
    attempt = audit.record_attempt(actor=actor_for(ann), action="create", target=target)
    result = audit.record_outcome(attempt, outcome="succeeded", after={**ENABLED, "priority": 1})

    assert attempt.deployment_id == ""
    assert result.deployment_id == "101"
    assert [entry.id for entry in audit.deployment_history("101")] == [attempt.pk]


def test_a_refusal_is_one_row(ann):
    event = audit.record_refusal(
        actor=actor_for(ann),
        action="disable",
        target=TARGET,
        message="Already disabled by someone else. Nothing was changed.",
        before=DISABLED,
    )

    assert AuditEvent.objects.count() == 1
    assert event.outcome == "refused" and event.completes_id is None


def test_an_external_change_is_one_row(db):
    when = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    event = audit.record_external(
        action="enable",
        target=TARGET,
        before=DISABLED,
        after=ENABLED,
        actor_name="Dana Dashboard",
        occurred_at=when,
    )

    event.refresh_from_db()
    assert event.source == "patchworks" and event.user_id is None
    assert event.actor_name == "Dana Dashboard"
    assert event.occurred_at == when


def test_actor_from_request_takes_the_trusted_address_and_the_session(ann, settings):
    settings.SSO_TRUSTED_PROXIES = []
    request = RequestFactory().get(
        "/", HTTP_USER_AGENT="Firefox", HTTP_X_FORWARDED_FOR="198.51.100.1", REMOTE_ADDR="10.0.0.5"
    )
    request.user = ann
    request.session = {"sign_in_method": "password", "sso_identity": ""}
    request.id = "abc123abc123"

    actor = Actor.from_request(request)

    assert actor.user == ann and actor.name == "Ann Smith" and actor.username == "ann"
    assert actor.ip_address == "10.0.0.5"  # the header came from an untrusted address
    assert (actor.user_agent, actor.request_id, actor.sign_in_method) == (
        "Firefox",
        "abc123abc123",
        "password",
    )


def test_the_system_actor_has_no_user():
    actor = Actor.system()
    assert actor.user is None and actor.name == "the console's check for outside changes"


def test_target_and_state_come_from_a_client_deployment():
    deployment = parse_deployment(DEPLOYMENT_JSON)

    assert DeploymentRef.of(deployment) == replace(TARGET, flow_version_iteration=3)
    state = audit.deployment_state(deployment)
    assert state["enabled"] is True
    assert state["enabled_at"].startswith("2025-03-01T09:00:00")
    assert state["enabled_by"] == "Dana Dashboard"
    assert (
        state["priority"],
        state["virtual_environment_id"],
        state["flow_version_iteration"],
    ) == (
        2,
        "2",
        3,
    )


def test_a_disabled_deployment_state_has_no_enabler():
    deployment = parse_deployment({**DEPLOYMENT_JSON, "enabled_at": None, "enabledBy": None})
    state = audit.deployment_state(deployment)
    assert (state["enabled"], state["enabled_at"], state["enabled_by"]) == (False, None, None)


def test_long_and_odd_values_are_stored_as_hashed(ann):
    actor = actor_for(ann, user_agent="x" * 2000, ip_address="not an address")
    event = audit.record_refusal(
        actor=actor, action="enable", target=TARGET, message="no\x00null", reason="r" * 10
    )
    event.refresh_from_db()
    assert len(event.user_agent) == 512 and event.ip_address is None
    assert event.message == "nonull"
    assert audit.verify_chain().ok


# When the trail cannot be written


def test_a_failed_write_raises_audit_unavailable(ann):
    broken = mock.patch.object(AuditEvent, "save", side_effect=DatabaseError("disk full"))
    with broken, pytest.raises(AuditUnavailable):
        console_disable(actor_for(ann), outcome=None)

    assert AuditEvent.objects.count() == 0
    assert audit.verify_chain().ok


def test_a_failed_write_leaves_the_enclosing_transaction_usable(ann):
    with transaction.atomic():
        console_disable(actor_for(ann), outcome="succeeded")
        broken = mock.patch.object(AuditEvent, "save", side_effect=DatabaseError("gone"))
        with broken, pytest.raises(AuditUnavailable):
            console_disable(actor_for(ann), outcome=None)
        console_disable(actor_for(ann), outcome="failed")

    assert AuditEvent.objects.count() == 4
    assert audit.verify_chain().ok


def test_a_broken_head_table_raises_audit_unavailable(ann):
    with (
        mock.patch.object(audit_chain, "_read_head", side_effect=DatabaseError("locked out")),
        pytest.raises(AuditUnavailable, match="nothing was sent"),
    ):
        console_disable(actor_for(ann), outcome=None)


# The chain


def test_each_event_links_to_the_one_before(ann):
    for _ in range(3):
        console_disable(actor_for(ann))

    rows = list(AuditEvent.objects.order_by("id"))
    assert rows[0].previous_hash == audit_chain.GENESIS_HASH
    for earlier, later in itertools.pairwise(rows):
        assert later.previous_hash == earlier.hash
    assert all(row.hash == audit_chain.event_hash(row) for row in rows)
    head = AuditChainHead.objects.get()
    assert (head.last_event_id, head.last_hash) == (rows[-1].pk, rows[-1].hash)


def test_an_intact_trail_verifies(ann, capsys):
    for _ in range(3):
        console_disable(actor_for(ann))

    call_command("verify_audit")

    assert capsys.readouterr().out.splitlines()[0] == "Audit trail intact: 6 events checked"


def test_an_empty_trail_verifies(db, capsys):
    call_command("verify_audit")
    assert "Audit trail intact: 0 events checked" in capsys.readouterr().out


def test_verify_audit_finds_a_changed_row(ann):
    console_disable(actor_for(ann))
    victim = console_disable(actor_for(ann))
    console_disable(actor_for(ann))

    tamper("UPDATE deployments_ui_auditevent SET reason = %s WHERE id = %s", ["nothing", victim.pk])

    with pytest.raises(CommandError) as error:
        call_command("verify_audit")
    assert error.value.returncode == 1
    assert f"broken at event {victim.pk}" in str(error.value)
    assert "changed after it was written" in str(error.value)


def test_verify_audit_finds_a_removed_row(ann):
    console_disable(actor_for(ann))
    victim = console_disable(actor_for(ann), outcome=None)
    after = console_disable(actor_for(ann))

    tamper("DELETE FROM deployments_ui_auditevent WHERE id = %s", [victim.pk])

    result = audit.verify_chain()
    assert not result.ok and result.first_broken_id == after.pk
    assert "removed" in result.problem


def test_verify_audit_finds_removed_events_at_the_end(ann):
    console_disable(actor_for(ann))
    last = console_disable(actor_for(ann), outcome=None)

    tamper("DELETE FROM deployments_ui_auditevent WHERE id = %s", [last.pk])

    result = audit.verify_chain()
    assert not result.ok and result.first_broken_id == last.pk
    assert "the last one written, is missing" in result.problem


def test_verify_audit_finds_a_rehashed_row(ann):
    console_disable(actor_for(ann))
    victim = console_disable(actor_for(ann), outcome=None)
    after = console_disable(actor_for(ann), outcome=None)
    victim.reason = "rewritten"
    victim.hash = audit_chain.event_hash(victim)

    tamper(
        "UPDATE deployments_ui_auditevent SET reason = %s, hash = %s WHERE id = %s",
        ["rewritten", victim.hash, victim.pk],
    )

    result = audit.verify_chain()
    assert not result.ok and result.first_broken_id == after.pk
    assert f"or event {victim.pk} was rewritten" in result.problem


# The table refuses changes on PostgreSQL


@on_postgres
def test_postgres_refuses_update(ann):
    event = console_disable(actor_for(ann), outcome=None)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.reason = "changed"
        event.save()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE deployments_ui_auditevent SET outcome = 'succeeded'")


@on_postgres
def test_postgres_refuses_delete(ann):
    event = console_disable(actor_for(ann), outcome=None)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM deployments_ui_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# Concurrent writers


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_valid():
    people = [make_user(f"user{number}", None, full_name=f"Person {number}") for number in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(people))

    def write(user) -> None:
        try:
            start.wait()
            for _ in range(8):
                console_disable(actor_for(user))
        except BaseException as error:  # collected for the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert AuditEvent.objects.count() == len(people) * 8 * 2
    result = audit.verify_chain()
    assert result.ok, result.problem
    assert result.checked == len(people) * 8 * 2


# Events per action, through the services against the sandbox


@pytest.fixture
def live(on_sandbox, settings):
    settings.PATCHWORKS_READ_TIMEOUT = 0.5
    return on_sandbox


def outcomes_since(first_id: int) -> list[str]:
    rows = AuditEvent.objects.filter(pk__gt=first_id).order_by("id")
    return [row.outcome for row in rows]


def test_each_write_is_two_events_and_each_refusal_one(live, operator):
    from deployments_ui.patchworks import PatchworksClient, PatchworksError

    listed = PatchworksClient("sandbox-key-operator").list_deployments(per_page=50)
    deployment = next(item for item in listed.items if not item.is_enabled)
    actor = actor_for(operator)

    def toggle(enabled: bool) -> None:
        writes.set_enabled(
            actor=actor,
            user=operator,
            ref=DeploymentRef(
                flow_version_id=deployment.flow_version_id, deployment_id=deployment.id
            ),
            enabled=enabled,
            reason="test",
        )

    toggle(True)
    assert outcomes_since(0) == ["pending", "succeeded"]

    mark = AuditEvent.objects.latest("id").pk
    with pytest.raises(writes.AlreadyInState):
        toggle(True)
    assert outcomes_since(mark) == ["refused"]

    mark = AuditEvent.objects.latest("id").pk
    live.set_faults(error_status=500, methods=["POST"])
    with pytest.raises(PatchworksError):
        toggle(False)
    assert outcomes_since(mark) == ["pending", "failed"]
    assert AuditEvent.objects.latest("id").upstream_status == 500

    mark = AuditEvent.objects.latest("id").pk
    live.set_faults(hang_seconds=2, methods=["POST"])
    with pytest.raises(PatchworksError):
        toggle(False)
    assert outcomes_since(mark) == ["pending", "unknown"]
    live.clear_faults()

    history = audit.deployment_history(deployment.id)
    assert [entry.outcome for entry in history] == ["unknown", "failed", "refused", "succeeded"]
    assert audit.verify_chain().ok
