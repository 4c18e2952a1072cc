"""Check the audit trail's hash chain: exit 0 if intact, 1 naming every changed event, 3 if the
trail was written with another key than the one given here (nothing is judged then).

First the key: the trail records its key's fingerprint, so a command run without the console's
key says so instead of raising a false tamper alarm. Then every event. What an operator keeps
outside the database: the log's "Audit chain head: ID:HASH" lines (each append writes one) or
the "Checkpoint" line this command prints, and the number of events it counted. Passing them
back (`--checkpoint ID:HASH --min-events N`) catches a trail that was emptied, cut short or
rewritten whole. Without them, the last head this command proved (a record signed with the key)
and what the audit stream delivered stand in. `--file FILE` proves an export of prune_audit.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments_ui.audit import chain, retention, verify_chain
from deployments_ui.audit.chain import Checkpoint
from deployments_ui.audit.models import AuditCheckpoint
from deployments_ui.audit.verify import VerifyResult

BROKEN = 1
WRONG_KEY = 3
NAMED_AT_MOST = 50


def _checkpoint(text: str) -> Checkpoint:
    try:
        return Checkpoint.parse(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "Verify that no audit event was changed, removed or reordered."
    # An auditor's check needs the database and the key, not the rest of the configuration.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            help="EVENT_ID:HASH from the log or an earlier run: that event must still be there",
        )
        parser.add_argument(
            "--min-events",
            type=int,
            default=0,
            help="the trail must hold at least this many events (the count of an earlier run)",
        )
        parser.add_argument(
            "--file", help="verify an export written by prune_audit instead of the database"
        )

    def handle(self, *args, **options) -> None:
        if options["file"]:
            self._verify_file(Path(options["file"]))
            return
        checkpoint = _checkpoint(options["checkpoint"]) if options["checkpoint"] else None
        result = verify_chain(checkpoint=checkpoint, min_events=options["min_events"])
        self._refuse(result, "Audit trail")
        if result.start:
            self.stdout.write(
                f"The trail starts after event {result.start.event_id}: older events were "
                "exported and removed (prune_audit), and the rest follows on from them."
            )
        self.stdout.write(f"Audit trail intact: {result.checked} events checked")
        self._unkeyed(result)
        if result.head:
            keyed = chain.is_keyed(result.head.event_id)
            # A new signed row each run (the runtime role may add rows, never change them).
            chain.record_checkpoint(
                AuditCheckpoint.Kind.VERIFIED, result.head, keyed=keyed, events=result.checked
            )
            self.stdout.write(
                f"Checkpoint (keep it outside the database): --checkpoint "
                f"{result.head.event_id}:{result.head.hash} --min-events {result.checked}"
            )

    def _verify_file(self, path: Path) -> None:
        result = retention.verify_export(path)
        self._refuse(result, f"Export {path.name}")
        self.stdout.write(f"Export intact: {result.checked} events checked")
        self._unkeyed(result)
        if result.head:
            self.stdout.write(
                f"It ends at event {result.head.event_id}; the trail in the database carries "
                f"on from there (checkpoint {result.head.event_id}:{result.head.hash})."
            )

    def _refuse(self, result: VerifyResult, what: str) -> None:
        if result.ok:
            return
        if result.wrong_key:
            raise CommandError(f"{what} not checked: {result.problem}.", returncode=WRONG_KEY)
        for problem in result.problems[:NAMED_AT_MOST]:
            self.stderr.write(f"- {problem}")
        if len(result.problems) > NAMED_AT_MOST:
            self.stderr.write(f"... and {len(result.problems) - NAMED_AT_MOST} more problems.")
        if result.changed:
            named = ", ".join(str(event_id) for event_id in result.changed[:NAMED_AT_MOST])
            more = " and more" if len(result.changed) > NAMED_AT_MOST else ""
            self.stderr.write(f"Events changed after they were written: {named}{more}.")
        where = f" at event {result.first_broken_id}" if result.first_broken_id else ""
        changed = f"; {len(result.changed)} events changed" if result.changed else ""
        raise CommandError(
            f"{what} broken{where}: {result.problem} ({result.checked} events checked{changed}).",
            returncode=BROKEN,
        )

    def _unkeyed(self, result: VerifyResult) -> None:
        if result.unkeyed:
            self.stdout.write(
                f"{result.unkeyed} of them predate the keyed chain (checked with plain sha256)."
            )
