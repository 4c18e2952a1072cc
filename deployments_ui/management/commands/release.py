"""The release step: migrate as the schema's owner, then grant the runtime role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from deployments_ui.audit.grants import GrantRefused, check_role, grant_runtime_role


class Command(BaseCommand):
    help = (
        "Run migrations on MIGRATE_DATABASE_URL (or DATABASE_URL when it is not set), then grant "
        "DATABASE_URL's role what the console needs at run time. Run once per deploy."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        using = "migrate" if "migrate" in settings.DATABASES else "default"
        verbosity = options.get("verbosity", 1)
        call_command("migrate", database=using, interactive=False, verbosity=verbosity)

        default = settings.DATABASES["default"]
        if default["ENGINE"] != "django.db.backends.postgresql":
            self.stdout.write("Not PostgreSQL: no runtime role to grant.")
            return
        role = default.get("USER") or ""
        check = check_role(role, using)
        if using == "default":
            if check.may_be_runtime:
                message = (
                    f"DATABASE_URL's role {role} owns nothing, so it cannot grant: set "
                    "MIGRATE_DATABASE_URL to the schema's owner (docs/DATABASE.md). No grants made."
                )
            else:
                message = (
                    f"DATABASE_URL's role {role or '(none)'} owns the schema, so it could drop "
                    "the audit table's guard: set MIGRATE_DATABASE_URL to the owner and "
                    "DATABASE_URL to a runtime role (docs/DATABASE.md). No grants made."
                )
            self.stdout.write(self.style.WARNING(message))
            return
        if not check.may_be_runtime:
            raise CommandError(
                f"DATABASE_URL's role {role or '(none)'} must be an existing role that owns "
                "nothing (not the migration role, not a superuser): see docs/DATABASE.md."
            )
        try:
            grant_runtime_role(role, using=using)
        except GrantRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Runtime role {role} granted; the audit table is SELECT and INSERT only."
        )
