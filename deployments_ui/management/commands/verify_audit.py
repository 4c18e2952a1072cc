"""Check the audit trail's hash chain: exit 0 if intact, 1 naming the first broken event."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deployments_ui.audit import verify_chain


class Command(BaseCommand):
    help = "Verify that no audit event was changed, removed or reordered."

    def handle(self, *args, **options) -> None:
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"Audit trail broken at event {result.first_broken_id}: {result.problem} "
                f"({result.checked} events checked).",
                returncode=1,
            )
        self.stdout.write(f"Audit trail intact: {result.checked} events checked")
