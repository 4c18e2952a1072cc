"""Export the audit events before a date as verifiable JSON lines, then remove them.

Run as the database owner (the role that runs migrate: MIGRATE_DATABASE_URL's, used by default
when it is set), never as the console's runtime role: see docs/operations.md, "Retention". The
cut moves earlier to keep each attempt with its outcome and to keep events a stream destination
has not had yet; a signed checkpoint lets verify_audit prove the rest of the trail, and
`verify_audit --file FILE` proves the export.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from deployments_ui.audit import retention


def _moment(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--before must be a date such as 2025-01-31, not {text!r}")
        moment = datetime.combine(day, time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export the audit events before a date to a file, then remove them from the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="a date (UTC midnight) or date-time")
        parser.add_argument("--export", required=True, help="a new file for the removed events")
        parser.add_argument(
            "--database",
            default="migrate" if "migrate" in settings.DATABASES else "default",
            help="the connection of the audit table's owner (default: MIGRATE_DATABASE_URL's)",
        )

    def handle(self, *args, **options) -> None:
        before = _moment(options["before"])
        export = Path(options["export"])
        if export.exists():
            raise CommandError(f"{export} already exists: choose a new file for the export.")
        try:
            result = retention.prune(before, export, using=options["database"])
        except retention.PruneRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        for reason in result.held_back:
            self.stdout.write(f"Kept some events from before the date: {reason}.")
        if result.checkpoint is None:
            self.stdout.write("Nothing to remove: no event before that date may go yet.")
            return
        self.stdout.write(
            f"Exported {result.removed} events to {export} and removed them from the database "
            f"(up to event {result.checkpoint.event_id}). Keep the file: "
            f"verify_audit --file {export} proves it."
        )
