"""Send the audit stream's destinations what they have not had yet, now (the worker does it
every minute): see docs/operations.md, "Streaming to a SIEM"."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments_ui.audit import stream


class Command(BaseCommand):
    help = "Deliver pending audit events to every CONSOLE_AUDIT_STREAM destination now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seconds", type=float, default=None, help="stop after this long (default: setting)"
        )

    def handle(self, *args, **options) -> None:
        if not stream.configured():
            self.stdout.write("No destination is set: CONSOLE_AUDIT_STREAM is empty.")
            return
        failed = False
        for report in stream.deliver(seconds=options["seconds"]):
            label = report.destination.label
            if report.skipped:
                self.stdout.write(f"{label}: another worker is sending to it right now.")
            elif report.error:
                failed = True
                self.stderr.write(f"{label}: sent {report.sent} events, then: {report.error}")
            else:
                self.stdout.write(f"{label}: sent {report.sent} events.")
        if failed:
            raise CommandError(
                "Some destinations could not be reached; they resume from where they stopped."
            )
