"""Verifying the audit trail: every event's hash and link, which key wrote it, and whether the
trail still reaches the points recorded outside it (checkpoints, the last verified head, what
the audit stream delivered)."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from deployments_ui.audit.chain import (
    GENESIS_HASH,
    HEAD_ID,
    Checkpoint,
    event_hash,
    key_fingerprint,
    seal_of,
    signature_matches,
)
from deployments_ui.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditStreamCursor,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""
    head: Checkpoint | None = None
    unkeyed: int = 0
    wrong_key: bool = False
    # Every event that no longer matches its hash, in order, and every problem found.
    changed: tuple[int, ...] = ()
    problems: tuple[str, ...] = ()
    # Where the walk began: the last pruning's checkpoint (None: the start of the trail).
    start: Checkpoint | None = None


def verify_chain(*, checkpoint: Checkpoint | None = None, min_events: int = 0) -> VerifyResult:
    """Walk the trail in order and report every event whose hash or link is wrong.

    First the key: if the trail records another key's fingerprint, nothing else is reported
    (`wrong_key`). `checkpoint` (from the log) must still be in the trail with the same hash,
    and the trail must hold at least `min_events` events: together they catch a trail emptied,
    cut short or rewritten whole by someone with the database but not the key. Without a
    checkpoint, the last head verify_audit proved (a signed record) and what the audit stream
    delivered stand in for it.
    """
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    refusal = _key_refusal(head)
    if refusal is not None:
        return refusal
    start = _start_point()
    walk = _Walk(head, start, _marks(checkpoint, start.point))
    result = walk.run(later=[start.problem, _head_problem(head), _forged_verified()])
    if result.ok and result.checked < min_events:
        return VerifyResult(
            False,
            result.checked,
            None,
            f"the trail holds {result.checked} events where at least {min_events} were "
            "expected: events were removed, or the trail was emptied",
            result.head,
            result.unkeyed,
        )
    return result


def _key_refusal(head: AuditChainHead | None) -> VerifyResult | None:
    """A trail written with another key is said to be so, before any event is judged."""
    recorded = head.key_fingerprint if head else ""
    ours = key_fingerprint()
    if not recorded or hmac.compare_digest(recorded, ours):
        return None
    if head is not None and _sealed_here(head, ours):
        return VerifyResult(
            False,
            0,
            head.last_event_id,
            "the record of which key wrote the trail was changed (the chain head is sealed "
            "with the key given here): someone edited the chain head",
        )
    return VerifyResult(
        False,
        0,
        None,
        f"this trail was written with another key (fingerprint {recorded}; the key given "
        f"here has fingerprint {ours}). Set CONSOLE_AUDIT_KEY (or CONSOLE_AUDIT_KEY_FILE), or "
        "DJANGO_SECRET_KEY if no audit key is set, to what the console runs with (if it "
        "already is, the trail was rewritten by someone with another key); no event was judged",
        wrong_key=True,
    )


def _sealed_here(head: AuditChainHead, ours: str) -> bool:
    """Whether the key given here sealed this head, or wrote its last event: then the recorded
    fingerprint, not the key, is what is wrong."""
    recorded = head.key_fingerprint
    head.key_fingerprint = ours
    try:
        if hmac.compare_digest(head.seal, seal_of(head)):
            return True
    finally:
        head.key_fingerprint = recorded
    if head.last_event_id is None or head.keyed_from_id is None:
        return False
    last = AuditEvent.objects.filter(pk=head.last_event_id).first()
    if last is None or last.pk < head.keyed_from_id:
        return False
    return hmac.compare_digest(event_hash(last), last.hash)


def _head_problem(head: AuditChainHead | None) -> str:
    """A head written since heads are sealed must carry a seal made with the key."""
    if head is None or not (head.key_fingerprint or head.seal):
        return ""
    if hmac.compare_digest(head.seal, seal_of(head)):
        return ""
    return (
        "the chain head (last event, its hash, where keying began) was changed by someone "
        "without the key: the trail was rewritten, or events at its end were removed"
    )


@dataclass(frozen=True)
class _Start:
    """Where the walk begins: after the last pruning's checkpoint, or at the genesis."""

    point: Checkpoint | None = None
    keyed: bool = False
    problem: str = ""


def _start_point() -> _Start:
    pruned = AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.PRUNED)
    row = pruned.order_by("-event_id").first()
    if row is None:
        return _Start()
    point = Checkpoint(row.event_id, row.hash)
    if not signature_matches(row):
        return _Start(
            point,
            problem=f"the record of the events removed up to event {row.event_id} (pruning) "
            "was changed or made without the key",
        )
    return _Start(point, row.keyed)


@dataclass(frozen=True)
class _Mark:
    """An event id and hash the trail must still hold, and who says so."""

    event_id: int
    hash: str
    said_by: str
    keyed: bool = False


def _marks(checkpoint: Checkpoint | None, start: Checkpoint | None) -> list[_Mark]:
    marks: list[_Mark] = []
    if checkpoint is not None:
        marks.append(_Mark(checkpoint.event_id, checkpoint.hash, "the checkpoint"))
    else:
        last = last_verified()
        if last is not None:
            marks.append(
                _Mark(last.event_id, last.hash, "the last verified head (verify_audit)", last.keyed)
            )
    for cursor in AuditStreamCursor.objects.exclude(last_hash=""):
        said_by = f"what the audit stream sent to {cursor.destination}"
        marks.append(_Mark(cursor.last_event_id, cursor.last_hash, said_by))
    floor = start.event_id if start else 0
    return [mark for mark in marks if mark.event_id > floor]


def last_verified() -> AuditCheckpoint | None:
    """The last head verify_audit proved whose record is signed with the key given here."""
    rows = AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.VERIFIED)
    for row in rows.order_by("-event_id", "-id").iterator():
        if signature_matches(row):
            return row
    return None


def _forged_verified() -> str:
    """Records of verified heads that the key did not sign: someone wrote them in."""
    rows = AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.VERIFIED)
    forged = [row.event_id for row in rows.iterator() if not signature_matches(row)]
    if not forged:
        return ""
    return (
        f"{len(forged)} records of a verified head (naming event {forged[0]}) were changed or "
        "made without the key"
    )


def _keyed_by(
    head: AuditChainHead | None, start: _Start, marks: list[_Mark]
) -> tuple[int, str] | None:
    """The earliest event known to be keyed, and what shows it (signed or sealed records)."""
    evidence = [(mark.event_id, mark.said_by) for mark in marks if mark.keyed]
    if start.point is not None and start.keyed and not start.problem:
        evidence.append((start.point.event_id, "the pruning checkpoint"))
    if head is not None and head.key_fingerprint and head.last_event_id is not None:
        evidence.append((head.last_event_id, "the chain head's key fingerprint"))
    return min(evidence) if evidence else None


class _Walk:
    """One pass over the events in id order, collecting every changed event."""

    def __init__(self, head: AuditChainHead | None, start: _Start, marks: list[_Mark]) -> None:
        self.head = head
        self.start = start.point
        self.keyed_from = head.keyed_from_id if head else None
        self.keyed_by = _keyed_by(head, start, marks)
        self.marks = {mark.event_id: mark for mark in marks}
        self.problems: list[tuple[int, str]] = []
        self.changed: list[int] = []
        self.previous: AuditEvent | None = None
        self.checked = self.unkeyed = 0
        self.head_seen = head is None or head.last_event_id is None

    def run(self, later: list[str]) -> VerifyResult:
        """Walk the events; `later` are problems found beforehand, reported after the events'."""
        events = AuditEvent.objects.order_by("id")
        if self.start is not None:
            events = events.filter(id__gt=self.start.event_id)
        for event in events.iterator(chunk_size=2000):
            self._check(event)
        self._check_end()
        head_id = self.head.last_event_id if self.head else None
        self.problems.extend((head_id or 0, problem) for problem in later if problem)
        if self.problems:
            first_id, problem = self.problems[0]
            return VerifyResult(
                False,
                self.checked,
                first_id,
                problem,
                unkeyed=self.unkeyed,
                changed=tuple(self.changed),
                problems=tuple(text for _, text in self.problems),
            )
        last = Checkpoint(self.previous.pk, self.previous.hash) if self.previous else None
        return VerifyResult(True, self.checked, head=last, unkeyed=self.unkeyed, start=self.start)

    def _check(self, event: AuditEvent) -> None:
        self.checked += 1
        keyed = self.keyed_from is not None and event.pk >= self.keyed_from
        self.unkeyed += not keyed
        if not keyed:
            self._check_keyed(event)
        previous = self.previous
        expected_previous = previous.hash if previous else self._first_previous()
        if event.previous_hash != expected_previous:
            before_it = self._before(previous)
            self.problems.append(
                (
                    event.pk,
                    f"event {event.pk} does not follow {before_it}: an event between them was "
                    f"removed, or {before_it} was rewritten",
                )
            )
        if not hmac.compare_digest(event_hash(event, keyed=keyed), event.hash):
            self.changed.append(event.pk)
            self.problems.append(
                (
                    event.pk,
                    f"event {event.pk} no longer matches its hash: it was changed after it "
                    "was written",
                )
            )
        if self.head is not None and event.pk == self.head.last_event_id:
            self.head_seen = event.hash == self.head.last_hash
        mark = self.marks.pop(event.pk, None)
        if mark is not None:
            self._check_mark(event, mark)
        self.previous = event

    def _check_keyed(self, event: AuditEvent) -> None:
        """Once the chain has a keyed link, an event claiming to predate the key is refused."""
        if self.keyed_by is None or event.pk < self.keyed_by[0]:
            return
        event_id, said_by = self.keyed_by
        self.problems.append(
            (
                event.pk,
                f"event {event.pk} claims to predate the key, but the chain was keyed by event "
                f"{event_id} ({said_by} shows it): the trail was rewritten without the key",
            )
        )
        self.keyed_by = None  # said once

    def _first_previous(self) -> str:
        return self.start.hash if self.start else GENESIS_HASH

    def _before(self, previous: AuditEvent | None) -> str:
        if previous is not None:
            return f"event {previous.pk}"
        if self.start is not None:
            return f"event {self.start.event_id} (the last one removed by pruning)"
        return "the start of the trail"

    def _check_mark(self, event: AuditEvent, mark: _Mark) -> None:
        if event.hash != mark.hash:
            self.problems.append(
                (
                    event.pk,
                    f"event {event.pk} is not the event {mark.said_by} names: the trail up to "
                    "it was rewritten",
                )
            )

    def _check_end(self) -> None:
        for mark in self.marks.values():
            self.problems.append(
                (
                    mark.event_id,
                    f"event {mark.event_id}, named by {mark.said_by}, is missing: the trail was "
                    "emptied or cut short",
                )
            )
        head = self.head
        if not self.head_seen and head is not None:
            self.problems.append(
                (
                    head.last_event_id or 0,
                    f"event {head.last_event_id}, the last one written, is missing or was "
                    "changed: events at the end of the trail were removed",
                )
            )
        if head is None and self.previous is not None:
            self.problems.append(
                (self.previous.pk, "the chain head is missing: the trail was reset")
            )
