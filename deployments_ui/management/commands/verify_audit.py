"""Check the audit trail's hash chain: exit 0 if intact, 1 naming the first broken event.

What an operator keeps outside the database: the log's "Audit chain head: ID:HASH" lines (each
append writes one) or the "Checkpoint" line this command prints, and the number of events it
counted. Passing them back (`--checkpoint ID:HASH --min-events N`) catches a trail that was
emptied, cut short or rewritten whole, which the chain alone cannot see.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments_ui.audit import verify_chain
from deployments_ui.audit.chain import Checkpoint


def _checkpoint(text: str) -> Checkpoint:
    try:
        return Checkpoint.parse(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "Verify that no audit event was changed, removed or reordered."

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

    def handle(self, *args, **options) -> None:
        checkpoint = _checkpoint(options["checkpoint"]) if options["checkpoint"] else None
        result = verify_chain(checkpoint=checkpoint, min_events=options["min_events"])
        if not result.ok:
            where = f"at event {result.first_broken_id}" if result.first_broken_id else ""
            raise CommandError(
                f"Audit trail broken{' ' + where if where else ''}: {result.problem} "
                f"({result.checked} events checked).",
                returncode=1,
            )
        self.stdout.write(f"Audit trail intact: {result.checked} events checked")
        if result.unkeyed:
            self.stdout.write(
                f"{result.unkeyed} of them predate the keyed chain (checked with plain sha256)."
            )
        if result.head:
            self.stdout.write(
                f"Checkpoint (keep it outside the database): --checkpoint "
                f"{result.head.event_id}:{result.head.hash} --min-events {result.checked}"
            )
