"""The keyed hash chain against someone who can edit the database but does not have the key.

Every tampering here goes behind the console's back, with raw SQL (on PostgreSQL as a superuser
skipping the append-only trigger), the way someone with database access would.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deployments_ui import audit
from deployments_ui.audit import chain as audit_chain
from deployments_ui.audit import verify as audit_verify
from deployments_ui.models import AuditChainHead, AuditEvent
from tests.audit.test_trail import tamper
from tests.factories import (
    actor_for,
    console_disable,
)

AUDIT_KEY = "a-test-audit-key-kept-outside-the-database"


@pytest.fixture(autouse=True)
def audit_key(settings, caplog):
    settings.CONSOLE_AUDIT_KEY = AUDIT_KEY
    caplog.set_level(logging.INFO, logger="deployments_ui.audit.chain")
    return settings


def rehash_everything(hasher, *, keyed_from: int | str | None = "keep") -> None:
    """Recompute every hash and the head in chain order, as an attacker with the database would."""
    previous = audit_chain.GENESIS_HASH
    event = None
    for event in AuditEvent.objects.order_by("id"):
        event.previous_hash = previous
        event.hash = hasher(event)
        tamper(
            "UPDATE deployments_ui_auditevent SET previous_hash = %s, hash = %s WHERE id = %s",
            [event.previous_hash, event.hash, event.pk],
        )
        previous = event.hash
    if event is not None:
        head = AuditChainHead.objects.get()
        head.last_hash, head.last_event_id = event.hash, event.pk
        if keyed_from != "keep":
            head.keyed_from_id = keyed_from
        head.save()


def plain_sha256(event: AuditEvent) -> str:
    return audit_chain.event_hash(event, keyed=False)


def hmac_under(key: str):
    def hasher(event: AuditEvent) -> str:
        return hmac.new(key.encode(), _message(event), hashlib.sha256).hexdigest()

    return hasher


def _message(event: AuditEvent) -> bytes:
    content = {
        name: audit_chain._hash_value(getattr(event, name)) for name in audit_chain.HASHED_FIELDS
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{event.previous_hash}\n{canonical}".encode()


def three_disables(ann) -> list[AuditEvent]:
    for _ in range(3):
        console_disable(actor_for(ann))
    return list(AuditEvent.objects.order_by("id"))


# A rewritten trail


def test_a_trail_rewritten_and_rehashed_without_the_key_is_caught(ann):
    events = three_disables(ann)
    tamper(
        "UPDATE deployments_ui_auditevent SET reason = %s WHERE id = %s",
        ["nothing happened", events[1].pk],
    )
    rehash_everything(plain_sha256)

    result = audit.verify_chain()

    assert not result.ok
    assert result.first_broken_id == events[0].pk
    assert "changed after it was written" in result.problem


def logged_heads(caplog) -> list[str]:
    prefix = "Audit chain head: "
    return [
        record.getMessage().removeprefix(prefix)
        for record in caplog.records
        if record.getMessage().startswith(prefix)
    ]


def test_a_rewrite_that_also_clears_the_keyed_marker_is_caught(ann, caplog):
    three_disables(ann)
    checkpoint = logged_heads(caplog)[-1]  # what the log, shipped elsewhere, still says
    tamper("UPDATE deployments_ui_auditevent SET reason = %s", ["nothing happened"])
    rehash_everything(plain_sha256, keyed_from=None)  # pretend the trail predates the key

    result = audit.verify_chain()

    # The head carries the key's fingerprint: a keyed chain refuses links claiming to be older.
    assert not result.ok
    assert "claims to predate the key" in result.problem
    errors = io.StringIO()
    with pytest.raises(CommandError, match="claims to predate the key"):
        call_command("verify_audit", checkpoint=checkpoint, stderr=errors)
    assert "is not the event the checkpoint names" in errors.getvalue()


def clear_the_head_record() -> None:
    """What a careful attacker also does: make the head look as if written before sealing."""
    tamper("UPDATE deployments_ui_auditchainhead SET key_fingerprint = '', seal = ''", [])


def test_a_rewrite_that_also_clears_the_head_record_is_caught_by_the_last_verified_head(ann):
    three_disables(ann)
    call_command("verify_audit", stdout=io.StringIO())  # an earlier run, as cron would do
    tamper("UPDATE deployments_ui_auditevent SET reason = %s", ["nothing happened"])
    rehash_everything(plain_sha256, keyed_from=None)
    clear_the_head_record()

    result = audit.verify_chain()

    assert not result.ok
    assert "claims to predate the key" in result.problem
    assert "the last verified head (verify_audit)" in result.problem


def test_a_forged_record_of_the_last_verified_head_is_refused(ann):
    three_disables(ann)
    call_command("verify_audit", stdout=io.StringIO())
    rehash_everything(plain_sha256, keyed_from=None)
    clear_the_head_record()
    last = AuditEvent.objects.order_by("id").last()
    tamper(
        "UPDATE deployments_ui_auditcheckpoint SET hash = %s, keyed = %s",
        [last.hash, False],
    )

    # The forged record's signature fails, so it is not believed, and it is itself reported.
    assert audit_verify.last_verified() is None
    result = audit.verify_chain()
    assert not result.ok
    assert any("made without the key" in problem for problem in result.problems)


def test_a_forged_later_record_does_not_hide_the_real_one(ann):
    events = three_disables(ann)
    call_command("verify_audit", stdout=io.StringIO())
    real = audit_verify.last_verified()
    tamper(
        "INSERT INTO deployments_ui_auditcheckpoint (kind, event_id, hash, keyed, events, "
        "key_fingerprint, signature, created_at) "
        "SELECT 'verified', event_id + 1, hash, keyed, events, key_fingerprint, signature, "
        "created_at FROM deployments_ui_auditcheckpoint",
        [],
    )
    assert audit_verify.last_verified() == real
    assert real is not None and real.event_id == events[-1].pk


def test_the_head_is_written_to_the_log_on_every_append(ann, caplog):
    events = three_disables(ann)
    assert logged_heads(caplog) == [f"{event.pk}:{event.hash}" for event in events]


def test_a_rewrite_with_a_guessed_key_is_caught(ann):
    three_disables(ann)
    tamper("UPDATE deployments_ui_auditevent SET reason = %s", ["nothing happened"])
    rehash_everything(hmac_under("guessed-key"))
    assert not audit.verify_chain().ok


def test_the_key_really_keys_the_hashes(ann, settings):
    three_disables(ann)
    assert audit.verify_chain().ok
    settings.CONSOLE_AUDIT_KEY = "another-key"
    assert not audit.verify_chain().ok


# An emptied or shortened trail


def test_an_emptied_trail_is_caught_by_the_checkpoint_and_the_count(ann, capsys):
    three_disables(ann)
    call_command("verify_audit")
    printed = capsys.readouterr().out
    checkpoint_line = next(line for line in printed.splitlines() if "--checkpoint" in line)
    checkpoint = checkpoint_line.split("--checkpoint ")[1].split()[0]
    assert checkpoint_line.endswith("--min-events 6")

    tamper("DELETE FROM deployments_ui_auditevent", [])
    tamper("DELETE FROM deployments_ui_auditchainhead", [])

    with pytest.raises(CommandError, match="is missing: the trail was emptied") as error:
        call_command("verify_audit", checkpoint=checkpoint)
    assert error.value.returncode == 1
    # Without the checkpoint, the record of the last verified head still names event 6...
    with pytest.raises(CommandError, match="named by the last verified head"):
        call_command("verify_audit")
    # ... and with that record removed too, the count remains.
    tamper("DELETE FROM deployments_ui_auditcheckpoint", [])
    with pytest.raises(CommandError, match="at least 6 were expected"):
        call_command("verify_audit", min_events=6)


def test_the_checkpoint_from_the_log_verifies_an_intact_trail(ann, caplog):
    events = three_disables(ann)
    logged = logged_heads(caplog)[-1]
    assert logged == f"{events[-1].pk}:{events[-1].hash}"
    console_disable(actor_for(ann))
    call_command("verify_audit", checkpoint=logged, min_events=6)


def test_a_malformed_checkpoint_is_refused_in_plain_words(db):
    with pytest.raises(CommandError, match="A checkpoint is EVENT_ID:HASH"):
        call_command("verify_audit", checkpoint="yesterday")


# Upgrading a trail hashed before the chain was keyed


def old_unkeyed_trail(ann) -> list[AuditEvent]:
    """A trail as the console wrote it before keying: plain sha256, no keyed marker."""
    three_disables(ann)
    rehash_everything(plain_sha256, keyed_from=None)
    clear_the_head_record()  # heads were not sealed then
    return list(AuditEvent.objects.order_by("id"))


def test_an_old_unkeyed_trail_still_verifies(ann, capsys):
    old_unkeyed_trail(ann)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "Audit trail intact: 6 events checked" in out
    assert "6 of them predate the keyed chain" in out


def test_new_events_on_an_old_trail_are_keyed_from_there_on(ann):
    old = old_unkeyed_trail(ann)
    new = console_disable(actor_for(ann))

    head = AuditChainHead.objects.get()
    assert head.keyed_from_id == new.pk  # the attempt: the first row written after the upgrade
    assert new.previous_hash == old[-1].hash
    result = audit.verify_chain()
    assert result.ok and result.unkeyed == 6 and result.checked == 8


@pytest.mark.parametrize("moved_to", ["none", "later", "earlier"])
def test_moving_the_keyed_marker_breaks_verification(ann, moved_to):
    old = old_unkeyed_trail(ann)
    console_disable(actor_for(ann))
    head = AuditChainHead.objects.get()
    head.keyed_from_id = {
        "none": None,
        "later": head.keyed_from_id + 1,
        "earlier": old[-1].pk,
    }[moved_to]
    head.save()

    assert not audit.verify_chain().ok
