"""Make a new SCIM provisioning token; print it once. The old token stops working at once."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from deployments_ui import audit
from deployments_ui.accounts.scim import rotate_token


class Command(BaseCommand):
    help = (
        "Replace the bearer token the identity provider uses for SCIM provisioning and print "
        "the new one once (only its hash is stored). Paste it into the provider's provisioning "
        "settings straight away: the previous token stops working now."
    )

    def handle(self, *args, **options) -> None:
        token = rotate_token(audit.Actor.system("manage.py scim_token"))
        self.stdout.write("The new SCIM token (shown only now; the previous one no longer works):")
        self.stdout.write(token)
