"""Re-encrypt every stored Patchworks API key under the first of CONSOLE_ENCRYPTION_KEYS.

To change the encryption key: put the new key first in CONSOLE_ENCRYPTION_KEYS (keep the old
one after it), run this command, then remove the old key.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deployments_ui.accounts.credentials import RotationFailed, rotate_all


class Command(BaseCommand):
    help = "Re-encrypt every stored API key under the first of CONSOLE_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        try:
            count = rotate_all()
        except RotationFailed as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted {count} API key{'s' if count != 1 else ''}.")
