"""Check, before going live, how the configured Patchworks answers: run it with a real key."""

from __future__ import annotations

import getpass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deployments_ui.accounts.credentials import MissingApiKey, api_key_for, service_api_key
from deployments_ui.patchworks import PatchworksClient
from deployments_ui.patchworks.check import check


class Command(BaseCommand):
    help = (
        "Read one page of deployments, the environments, packages and flows lists and one "
        "flow's versions from PATCHWORKS_BASE_URL (no writes), say which response shape "
        "Patchworks uses, and list every field the console needs and did not find. Uses the "
        "service key unless --user or --ask-key is given. Exits 1 if the console cannot work."
    )

    def add_arguments(self, parser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--user", help="use this console user's saved Patchworks key")
        source.add_argument(
            "--ask-key", action="store_true", help="type the key at a prompt (not echoed)"
        )

    def handle(self, *args, **options) -> None:
        client = PatchworksClient(self._key(options))
        self.stdout.write(f"Patchworks at {settings.PATCHWORKS_BASE_URL}")
        report = check(client)
        self.stdout.write(f"Read: {', '.join(report.read) or 'nothing'} ({report.requests} GETs)")
        self.stdout.write(f"Response shape: {report.shape}")
        if report.runs_readable is not None:
            runs = "readable" if report.runs_readable else "not readable"
            self.stdout.write(f"Flow runs: {runs}")
        for failure in report.failures:
            self.stdout.write(self.style.ERROR(f"  FAILED  {failure}"))
        if not report.missing:
            self.stdout.write(self.style.SUCCESS("Every field the console needs was found."))
        for finding in report.missing:
            if finding.blocking:
                line = f"  MISSING  {finding.what}: {finding.consequence}"
                self.stdout.write(self.style.ERROR(line))
            else:
                line = f"  missing  {finding.what}: {finding.consequence}"
                self.stdout.write(self.style.WARNING(line))
        self.stdout.write(
            "Not checked (it would need a write): how creates, updates, enables and disables "
            "answer. The console takes any 2xx as done and reads the deployment back when the "
            "answer does not carry it."
        )
        if not report.ok:
            raise CommandError("The console cannot work fully with these answers.", returncode=1)
        self.stdout.write(self.style.SUCCESS("The console can work with these answers."))

    @staticmethod
    def _key(options) -> str:
        if options["ask_key"]:
            key = getpass.getpass("Patchworks API key: ").strip()
        elif options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No console user named {options['user']!r}.")
            try:
                key = api_key_for(user)
            except MissingApiKey:
                raise CommandError(f"{options['user']} has no Patchworks API key saved.") from None
        else:
            key = service_api_key()
        if not key:
            raise CommandError(
                "No key: save a service key (or set CONSOLE_SERVICE_API_KEY), or use --user or "
                "--ask-key."
            )
        return key
