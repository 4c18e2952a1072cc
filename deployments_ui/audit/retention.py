"""Retention: export the oldest events as verifiable JSON lines, then remove them.

The export holds one line per event, in the audit stream's format (`stream.event_line`), and a
closing line signed with the audit key (how many events, the first and last links, where
keying began), so that `verify_audit --file` proves the file whole and unchanged. Removing
keeps a signed checkpoint (the last removed event's id and hash, and the key's fingerprint), so
that `verify_audit` proves the rest of the trail starting from it.

Only the database owner may remove events. On PostgreSQL the audit table refuses DELETE through
a trigger (migrations 0003 and 0011) and the runtime role has no DELETE privilege: pruning
disables the row trigger inside its own transaction (ALTER TABLE, which only the owner may do,
and which locks the table until the transaction ends), deletes, and enables it again before
committing, so no other session ever sees the table unguarded.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connections, transaction
from django.db.models import Max, Min
from django.utils import timezone

from deployments_ui.audit import chain, stream, verify
from deployments_ui.audit.grants import AUDIT_TABLE
from deployments_ui.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditStreamCursor,
)

END_TYPE = "export_end"
# An attempt this recent without an outcome may still get one: it is never removed.
IN_FLIGHT = timedelta(days=1)


class PruneRefused(Exception):
    """Nothing was removed; the message says why in plain words."""


@dataclass(frozen=True)
class Cut:
    """The last event to remove, and why the cut is earlier than the date asked for."""

    last_id: int | None
    held_back: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneResult:
    removed: int
    checkpoint: chain.Checkpoint | None
    held_back: tuple[str, ...] = ()


# Where to cut


def plan_cut(before: datetime) -> Cut:
    """Remove a prefix of the chain: events before `before`, never one a stream destination has
    not had yet, and never an attempt without its outcome (the cut moves back to keep pairs)."""
    events = AuditEvent.objects.order_by("id")
    first_kept = events.filter(occurred_at__gte=before).values_list("id", flat=True).first()
    last = first_kept - 1 if first_kept is not None else _last_id()
    held_back: list[str] = []
    for destination in stream.configured():
        cursor = AuditStreamCursor.objects.filter(destination=destination.spec).first()
        delivered = cursor.last_event_id if cursor else 0
        if delivered < last:
            last = delivered
            held_back.append(f"not yet sent to {destination.label}")
    in_flight = _first_in_flight(last)
    if in_flight is not None:
        last = in_flight - 1
        held_back.append("a change is still waiting for its outcome")
    last, moved = _keep_pairs(last)
    if moved:
        held_back.append("an attempt is kept with its outcome")
    real_last = events.filter(id__lte=last).aggregate(last=Max("id"))["last"]
    return Cut(real_last, tuple(held_back))


def _last_id() -> int:
    return AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


def _first_in_flight(last: int) -> int | None:
    """The first attempt up to `last` that may still get its outcome (a recent one without)."""
    recent = timezone.now() - IN_FLIGHT
    attempts = AuditEvent.objects.filter(
        id__lte=last, outcome=AuditEvent.Outcome.PENDING, occurred_at__gte=recent
    )
    first: int | None = attempts.filter(results__isnull=True).aggregate(first=Min("id"))["first"]
    return first


def _keep_pairs(last: int) -> tuple[int, bool]:
    moved = False
    while True:
        split = AuditEvent.objects.filter(id__gt=last, completes_id__lte=last)
        attempt = split.aggregate(first=Min("completes_id"))["first"]
        if attempt is None:
            return last, moved
        last, moved = attempt - 1, True


# Export and removal


def prune(before: datetime, export_to: Path, using: str = "default") -> PruneResult:
    """Export the events before `before` to `export_to` (a new file), then remove them on the
    connection `using`, which must be the audit table's owner's on PostgreSQL."""
    _refuse_unless_owner(using)
    verified = verify.verify_chain()
    if not verified.ok:
        raise PruneRefused(
            "The audit trail does not verify, so nothing was removed: "
            f"{verified.problem}. Run verify_audit."
        )
    cut = plan_cut(before)
    if cut.last_id is None:
        return PruneResult(0, None, cut.held_back)
    events = AuditEvent.objects.filter(id__lte=cut.last_id).order_by("id")
    count = write_export(events, export_to)
    last = AuditEvent.objects.get(pk=cut.last_id)
    checkpoint = chain.Checkpoint(last.pk, last.hash)
    try:
        _remove_up_to(checkpoint, count, using)
    except PruneRefused:
        export_to.unlink()
        raise
    return PruneResult(count, checkpoint, cut.held_back)


def _refuse_unless_owner(using: str) -> None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
            "WHERE tablename = %s AND schemaname = current_schema()",
            [AUDIT_TABLE],
        )
        row = cursor.fetchone()
    if not row or not row[0]:
        raise PruneRefused(
            "Only the database owner (the role that runs migrate) may remove audit events; "
            "the console's own role may not. Nothing was removed."
        )


def write_export(events: Any, path: Path) -> int:
    """Write the events and a signed closing line to a new file; the number written."""
    head = AuditChainHead.objects.filter(pk=chain.HEAD_ID).first()
    keyed_from = head.keyed_from_id if head else None
    count, first, last = 0, None, None
    with path.open("x", encoding="utf-8") as handle:
        for line in stream.lines_for(events.iterator(chunk_size=2000)):
            handle.write(line + "\n")
            event = json.loads(line)
            first = first or event
            last, count = event, count + 1
        handle.write(stream.dumps(_closing_line(count, first, last, keyed_from)) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return count


def _closing_line(
    count: int,
    first: dict[str, Any] | None,
    last: dict[str, Any] | None,
    keyed_from: int | None,
) -> dict[str, Any]:
    line = {
        "type": END_TYPE,
        "events": count,
        "first_id": first["id"] if first else None,
        "first_previous_hash": first["previous_hash"] if first else None,
        "last_id": last["id"] if last else None,
        "last_hash": last["hash"] if last else None,
        "keyed_from_id": keyed_from,
        "key_fingerprint": chain.key_fingerprint(),
    }
    line["signature"] = _closing_signature(line)
    return line


def _closing_signature(line: dict[str, Any]) -> str:
    fields = ("events", "first_id", "first_previous_hash", "last_id", "last_hash")
    return chain.sign(
        END_TYPE,
        *(line.get(name) for name in fields),
        line.get("keyed_from_id"),
        line.get("key_fingerprint"),
    )


def _remove_up_to(checkpoint: chain.Checkpoint, count: int, using: str) -> None:
    connection = connections[using]
    guarded = connection.vendor == "postgresql"
    with transaction.atomic(using=using):
        AuditChainHead.objects.using(using).select_for_update().filter(pk=chain.HEAD_ID).first()
        # Appending waits for the head: an outcome written since the cut was planned is seen.
        events = AuditEvent.objects.using(using)
        if events.filter(
            id__gt=checkpoint.event_id, completes_id__lte=checkpoint.event_id
        ).exists():
            raise PruneRefused(
                "An outcome was recorded meanwhile for an attempt that was to be removed, so "
                "nothing was removed: run prune_audit again."
            )
        with connection.cursor() as cursor:
            if guarded:
                # Foreign-key checks are deferred by default, and a table with pending checks
                # cannot be altered: run them at each statement's end in this transaction.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER audit_append_only")
            AuditEvent.objects.using(using).filter(id__lte=checkpoint.event_id).delete()
            if guarded:
                cursor.execute(f"ALTER TABLE {AUDIT_TABLE} ENABLE TRIGGER audit_append_only")
        checkpoints = AuditCheckpoint.objects.using(using)
        verified = checkpoints.filter(kind=AuditCheckpoint.Kind.VERIFIED)
        verified.filter(event_id__lte=checkpoint.event_id).delete()  # about removed events
        earlier = checkpoints.filter(kind=AuditCheckpoint.Kind.PRUNED)
        removed_before = earlier.aggregate(total=Max("events"))["total"] or 0
        chain.record_checkpoint(
            AuditCheckpoint.Kind.PRUNED,
            checkpoint,
            keyed=chain.is_keyed(checkpoint.event_id),
            events=removed_before + count,
            using=using,
        )


# Verifying an export


def verify_export(path: Path) -> verify.VerifyResult:
    """Prove an export whole and unchanged: every link, every hash, the signed closing line."""
    try:
        lines = _read_lines(path)
    except (OSError, ValueError) as error:
        return verify.VerifyResult(False, 0, None, f"the file cannot be read as an export: {error}")
    if not lines or lines[-1].get("type") != END_TYPE:
        return verify.VerifyResult(
            False, len(lines), None, "the export has no closing line: it was cut short"
        )
    closing, events = lines[-1], lines[:-1]
    refusal = _closing_refusal(closing, len(events))
    if refusal is not None:
        return refusal
    return _ExportWalk(closing).run(events)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                line = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number} is not JSON") from error
            if not isinstance(line, dict):
                raise ValueError(f"line {number} is not an event")
            lines.append(line)
    return lines


def _closing_refusal(closing: dict[str, Any], count: int) -> verify.VerifyResult | None:
    recorded, ours = str(closing.get("key_fingerprint") or ""), chain.key_fingerprint()
    if recorded != ours and _signed_here(closing, ours):
        return verify.VerifyResult(
            False, 0, None, "the record of which key wrote the export was changed"
        )
    if recorded != ours:
        return verify.VerifyResult(
            False,
            0,
            None,
            f"this export was written with another key (fingerprint {recorded}; the key given "
            f"here has fingerprint {ours}). Set CONSOLE_AUDIT_KEY to the key the console runs "
            "with; no event was judged",
            wrong_key=True,
        )
    if not hmac.compare_digest(str(closing.get("signature")), _closing_signature(closing)):
        return verify.VerifyResult(
            False, 0, None, "the export's closing line was changed or made without the key"
        )
    if closing.get("events") != count:
        return verify.VerifyResult(
            False,
            count,
            None,
            f"the export holds {count} events where its closing line says "
            f"{closing.get('events')}: lines were removed or added",
        )
    return None


def _signed_here(closing: dict[str, Any], ours: str) -> bool:
    """Whether the key given here signed the closing line (its fingerprint then was edited)."""
    as_ours = {**closing, "key_fingerprint": ours}
    return hmac.compare_digest(str(closing.get("signature")), _closing_signature(as_ours))


class _ExportWalk:
    def __init__(self, closing: dict[str, Any]) -> None:
        self.keyed_from = closing.get("keyed_from_id")
        self.previous_hash = closing.get("first_previous_hash")
        self.previous_id = 0
        self.closing = closing
        self.problems: list[tuple[int, str]] = []
        self.changed: list[int] = []
        self.unkeyed = 0

    def run(self, events: list[dict[str, Any]]) -> verify.VerifyResult:
        for event in events:
            self._check(event)
        if events and events[-1].get("hash") != self.closing.get("last_hash"):
            self.problems.append(
                (
                    int(events[-1].get("id") or 0),
                    "the last event is not the one the closing line names",
                )
            )
        if self.problems:
            first_id, problem = self.problems[0]
            return verify.VerifyResult(
                False,
                len(events),
                first_id,
                problem,
                unkeyed=self.unkeyed,
                changed=tuple(self.changed),
                problems=tuple(text for _, text in self.problems),
            )
        last = chain.Checkpoint(int(events[-1]["id"]), events[-1]["hash"]) if events else None
        return verify.VerifyResult(True, len(events), head=last, unkeyed=self.unkeyed)

    def _check(self, line: dict[str, Any]) -> None:
        event_id = line.get("id")
        if line.get("type") != stream.LINE_TYPE or not isinstance(event_id, int):
            self.problems.append(
                (self.previous_id, f"a line after event {self.previous_id} is not an event")
            )
            return
        keyed = self.keyed_from is not None and event_id >= self.keyed_from
        self.unkeyed += not keyed
        if event_id <= self.previous_id or line.get("previous_hash") != self.previous_hash:
            self.problems.append(
                (
                    event_id,
                    f"event {event_id} does not follow the line before it: lines were removed, "
                    "reordered or changed",
                )
            )
        content = line.get("content")
        expected = (
            chain.content_hash(str(line.get("previous_hash")), content, keyed=keyed)
            if isinstance(content, dict)
            else ""
        )
        if expected != line.get("hash"):
            self.changed.append(event_id)
            self.problems.append(
                (
                    event_id,
                    f"event {event_id} no longer matches its hash: it was changed after it was "
                    "written",
                )
            )
        self.previous_hash, self.previous_id = line.get("hash"), event_id
