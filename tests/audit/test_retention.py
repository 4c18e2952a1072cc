"""prune_audit: export the oldest events as verifiable JSON lines, remove them, keep a signed
checkpoint; verify_audit proves the rest and (--file) the export. On PostgreSQL, only the
owner may prune, and the table's guard is back on afterwards."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.audit import chain, retention, stream
from deployments_ui.audit.grants import AUDIT_TABLE
from deployments_ui.models import AuditCheckpoint, AuditEvent
from tests.audit.test_database_roles import _as, on_postgres, runtime_role  # noqa: F401
from tests.audit.test_trail import tamper
from tests.factories import actor_for, console_disable

KEY = "the-key-the-console-runs-with"


@pytest.fixture(autouse=True)
def audit_key(settings):
    settings.CONSOLE_AUDIT_KEY = KEY
    settings.CONSOLE_AUDIT_STREAM = []


def disables(ann, count: int) -> None:
    for _ in range(count):
        console_disable(actor_for(ann))


def prune(before, export: Path) -> str:
    out = io.StringIO()
    call_command("prune_audit", before=before.isoformat(), export=str(export), stdout=out)
    return out.getvalue()


def verify(**options) -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out, **options)
    return out.getvalue()


def export_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(stream.dumps(line) + "\n" for line in lines))


@pytest.fixture
def pruned(ann, tmp_path) -> tuple[Path, list[AuditEvent]]:
    """Four events before the date (two disables), two after; the first four pruned."""
    disables(ann, 2)
    cut = timezone.now()
    disables(ann, 1)
    removed = list(AuditEvent.objects.order_by("id")[:4])
    export = tmp_path / "audit-before.jsonl"
    out = prune(cut, export)
    assert f"Exported 4 events to {export}" in out
    return export, removed


def test_pruning_exports_removes_and_the_rest_still_verifies(pruned):
    export, removed = pruned
    assert AuditEvent.objects.count() == 2
    checkpoint = AuditCheckpoint.objects.get(kind="pruned")
    assert (checkpoint.event_id, checkpoint.hash) == (removed[-1].pk, removed[-1].hash)
    assert checkpoint.key_fingerprint == chain.key_fingerprint() and checkpoint.events == 4

    out = verify()
    assert f"The trail starts after event {removed[-1].pk}" in out
    assert "Audit trail intact: 2 events checked" in out

    out = verify(file=str(export))
    assert "Export intact: 4 events checked" in out
    assert f"ends at event {removed[-1].pk}" in out


def test_the_export_has_the_streams_lines_and_a_signed_closing_line(pruned):
    export, removed = pruned
    lines = export_lines(export)
    assert [line["id"] for line in lines[:-1]] == [event.pk for event in removed]
    assert lines[0]["previous_hash"] == chain.GENESIS_HASH
    assert lines[0]["content"]["actor_name"] == "Ann Smith"
    closing = lines[-1]
    assert closing["type"] == "export_end" and closing["events"] == 4
    assert closing["last_hash"] == removed[-1].hash
    assert KEY not in export.read_text()


def test_a_changed_export_is_caught_naming_the_event(pruned):
    export, removed = pruned
    lines = export_lines(export)
    lines[1]["content"]["reason"] = "nothing happened"
    write_lines(export, lines)
    errors = io.StringIO()

    with pytest.raises(CommandError, match=f"broken at event {removed[1].pk}") as error:
        call_command("verify_audit", file=str(export), stderr=errors)
    assert error.value.returncode == 1
    assert f"Events changed after they were written: {removed[1].pk}." in errors.getvalue()


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        (lambda lines: lines[:-1], "no closing line: it was cut short"),
        (lambda lines: [lines[0], *lines[2:]], "holds 3 events where its closing line says 4"),
        (lambda lines: [*lines[:-1], {**lines[-1], "events": 3}], "closing line was changed"),
    ],
)
def test_a_cut_or_edited_export_is_caught(pruned, cut, problem):
    export, _ = pruned
    write_lines(export, cut(export_lines(export)))
    with pytest.raises(CommandError, match=problem):
        call_command("verify_audit", file=str(export))


def test_an_edited_key_record_in_an_export_is_tampering(pruned):
    export, _ = pruned
    lines = export_lines(export)
    lines[-1]["key_fingerprint"] = "0123456789abcdef"
    write_lines(export, lines)
    with pytest.raises(CommandError, match="key wrote the export was changed") as error:
        call_command("verify_audit", file=str(export))
    assert error.value.returncode == 1


def test_an_export_checked_with_another_key_says_so(pruned, settings):
    export, _ = pruned
    settings.CONSOLE_AUDIT_KEY = "another-key"
    with pytest.raises(CommandError, match="export was written with another key") as error:
        call_command("verify_audit", file=str(export))
    assert error.value.returncode == 3


def test_a_second_prune_carries_on_from_the_first(pruned, ann, tmp_path):
    _, first_removed = pruned
    remaining = list(AuditEvent.objects.order_by("id"))
    cut = timezone.now()
    disables(ann, 1)
    second_export = tmp_path / "second.jsonl"

    prune(cut, second_export)

    lines = export_lines(second_export)
    assert lines[0]["previous_hash"] == first_removed[-1].hash
    assert [line["id"] for line in lines[:-1]] == [event.pk for event in remaining]
    assert "Export intact: 2 events" in verify(file=str(second_export))
    assert "Audit trail intact: 2 events checked" in verify()
    assert AuditCheckpoint.objects.filter(kind="pruned").order_by("-event_id")[0].events == 6


def test_an_attempt_is_never_split_from_its_outcome(ann, tmp_path):
    disables(ann, 1)
    attempt = console_disable(actor_for(ann), outcome=None)  # still in progress at the date
    cut = timezone.now()
    audit.record_outcome(attempt, outcome="succeeded")

    out = prune(cut, tmp_path / "export.jsonl")

    assert "an attempt is kept with its outcome" in out
    assert AuditEvent.objects.filter(pk=attempt.pk).exists()
    assert AuditEvent.objects.count() == 2  # the attempt and its outcome, together
    assert "Audit trail intact: 2 events checked" in verify()


def test_an_attempt_still_waiting_for_its_outcome_is_kept(ann, tmp_path):
    disables(ann, 1)
    attempt = console_disable(actor_for(ann), outcome=None)  # its outcome may come any moment

    out = prune(timezone.now(), tmp_path / "export.jsonl")

    assert "a change is still waiting for its outcome" in out
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [attempt.pk]
    audit.record_outcome(attempt, outcome="succeeded")  # the outcome can still be written
    assert "Audit trail intact: 2 events checked" in verify()


def test_an_attempt_without_outcome_for_days_is_removed(ann, tmp_path):
    two_days_ago = timezone.now() - timezone.timedelta(days=2)
    chain.append(
        AuditEvent(occurred_at=two_days_ago, action="disable", outcome="pending", actor_name="Ann")
    )
    disables(ann, 1)

    prune(timezone.now() - timezone.timedelta(days=1), tmp_path / "export.jsonl")

    assert AuditEvent.objects.count() == 2
    assert "Export intact: 1 events" in verify(file=str(tmp_path / "export.jsonl"))


def test_an_outcome_written_while_pruning_stops_the_removal(ann, tmp_path):
    attempt = console_disable(actor_for(ann), outcome=None)
    audit.record_outcome(attempt, outcome="succeeded")  # after the cut was planned at the attempt

    with pytest.raises(retention.PruneRefused, match="run prune_audit again"):
        retention._remove_up_to(chain.Checkpoint(attempt.pk, attempt.hash), 1, "default")
    assert AuditEvent.objects.count() == 2
    assert not AuditCheckpoint.objects.filter(kind="pruned").exists()


def test_events_a_stream_has_not_had_yet_are_kept(ann, settings, tmp_path):
    disables(ann, 1)
    destination = tmp_path / "stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{destination}"]
    stream.deliver()
    disables(ann, 1)  # not yet streamed

    out = prune(timezone.now(), tmp_path / "export.jsonl")

    assert f"not yet sent to the file {destination}" in out
    assert AuditEvent.objects.count() == 2
    assert "Audit trail intact: 2 events checked" in verify()


def test_nothing_before_the_date_removes_nothing(ann, tmp_path):
    disables(ann, 1)
    out = prune(timezone.now() - timezone.timedelta(days=1), tmp_path / "export.jsonl")
    assert "Nothing to remove" in out
    assert AuditEvent.objects.count() == 2


def test_the_export_must_be_a_new_file_and_the_date_a_date(ann, tmp_path):
    disables(ann, 1)
    existing = tmp_path / "export.jsonl"
    existing.write_text("keep me\n")
    with pytest.raises(CommandError, match="already exists"):
        prune(timezone.now(), existing)
    with pytest.raises(CommandError, match="must be a date such as"):
        call_command("prune_audit", before="last spring", export=str(tmp_path / "x.jsonl"))
    assert existing.read_text() == "keep me\n" and AuditEvent.objects.count() == 2


def test_a_broken_trail_is_not_pruned(ann, tmp_path):
    disables(ann, 1)
    tamper("UPDATE deployments_ui_auditevent SET reason = 'nothing happened'", [])
    with pytest.raises(CommandError, match="does not verify, so nothing was removed"):
        prune(timezone.now(), tmp_path / "export.jsonl")
    assert AuditEvent.objects.count() == 2


def test_events_removed_behind_a_forged_checkpoint_are_caught(ann):
    disables(ann, 2)
    first = list(AuditEvent.objects.order_by("id")[:2])
    tamper("DELETE FROM deployments_ui_auditevent WHERE id <= %s", [first[-1].pk])
    tamper(
        "INSERT INTO deployments_ui_auditcheckpoint (kind, event_id, hash, keyed, events, "
        "key_fingerprint, signature, created_at) VALUES ('pruned', %s, %s, %s, 2, %s, %s, %s)",
        [first[-1].pk, first[-1].hash, True, chain.key_fingerprint(), "0" * 64, timezone.now()],
    )
    with pytest.raises(CommandError, match="made without the key"):
        verify()


def test_events_removed_without_pruning_are_caught(ann):
    disables(ann, 2)
    first_pair = list(AuditEvent.objects.order_by("id")[:2])
    tamper("DELETE FROM deployments_ui_auditevent WHERE id <= %s", [first_pair[-1].pk])
    with pytest.raises(CommandError, match="does not follow the start of the trail"):
        verify()


# PostgreSQL: the owner prunes, the runtime role is refused, the guard stays on


def _enabled_triggers() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled = 'O' "
            "AND NOT tgisinternal",
            [AUDIT_TABLE],
        )
        return cursor.fetchone()[0]


@on_postgres
def test_the_owner_prunes_past_the_guard_which_is_back_on_after(pruned):
    assert AuditEvent.objects.count() == 2
    assert _enabled_triggers() == 2
    with pytest.raises(DatabaseError, match="append-only: DELETE"), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AUDIT_TABLE}")


@on_postgres
def test_the_runtime_role_is_refused_in_plain_words(ann, runtime_role, tmp_path):  # noqa: F811
    disables(ann, 1)
    export = tmp_path / "export.jsonl"
    with _as(runtime_role), pytest.raises(CommandError, match="Only the database owner"):
        call_command("prune_audit", before=timezone.now().isoformat(), export=str(export))
    assert not export.exists() and AuditEvent.objects.count() == 2


@on_postgres
def test_the_runtime_role_adds_checkpoints_but_never_changes_them(ann, runtime_role):  # noqa: F811
    disables(ann, 1)
    with _as(runtime_role):
        assert "Audit trail intact: 2 events checked" in verify()
        for statement in (
            "UPDATE deployments_ui_auditcheckpoint SET hash = 'x'",
            "DELETE FROM deployments_ui_auditcheckpoint",
        ):
            with (
                pytest.raises(DatabaseError, match="permission denied"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)
    assert AuditCheckpoint.objects.filter(kind="verified").count() == 1


@on_postgres
def test_the_runtime_role_cannot_lift_the_guard_itself(ann, runtime_role):  # noqa: F811
    disables(ann, 1)
    last = AuditEvent.objects.order_by("id").last()
    with _as(runtime_role), pytest.raises(DatabaseError, match="must be owner"):
        retention._remove_up_to(chain.Checkpoint(last.pk, last.hash), 2, "default")
    assert AuditEvent.objects.count() == 2
