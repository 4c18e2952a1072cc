"""Grant a PostgreSQL role what the console needs at run time, and no more on the audit table."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments_ui.audit.grants import GrantRefused, grant_runtime_role


class Command(BaseCommand):
    help = (
        "Grant ROLE SELECT/INSERT/UPDATE/DELETE on the console's tables and sequences, but only "
        "SELECT and INSERT on the audit table. Idempotent; run it as the schema's owner."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the runtime role (the user in DATABASE_URL)")
        parser.add_argument(
            "--database",
            default="default",
            help="connection to grant on, as the schema's owner (default: default)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        try:
            statements = grant_runtime_role(role, using=options["database"])
        except GrantRefused as exc:
            raise CommandError(str(exc)) from exc
        if not statements:
            self.stdout.write("Not PostgreSQL: there are no roles to grant.")
            return
        for statement in statements:
            self.stdout.write(f"  {statement};", ending="\n")
        self.stdout.write(
            f"Runtime role {role} granted; the audit table is SELECT and INSERT only."
        )
