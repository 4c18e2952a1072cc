"""Record changes made in Patchworks outside the console (drift detection); run from cron."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deployments_ui.drift.sync import SyncError, sync_deployments


class Command(BaseCommand):
    help = (
        "Page through all deployments with the service key and record, in the audit trail, "
        "every change since the last run that the console did not make. Safe to run every "
        "minute on several instances: only one does the work."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--min-interval",
            type=float,
            default=None,
            help="Seconds between requests to Patchworks (default CONSOLE_SYNC_MIN_INTERVAL).",
        )

    def handle(self, *args, **options) -> None:
        try:
            result = sync_deployments(min_interval=options["min_interval"])
        except SyncError as error:
            raise CommandError(str(error), returncode=1) from error
        if result.skipped:
            self.stdout.write("Nothing to do: another instance is syncing.")
            return
        recorded = (
            "baseline taken, no changes recorded (first run)"
            if result.baseline
            else f"{result.changes} changes recorded"
        )
        self.stdout.write(
            f"Synced {result.seen} deployments: {result.pages} pages fetched, "
            f"{result.requests} requests, {recorded}, in {result.seconds:.1f} s."
        )
