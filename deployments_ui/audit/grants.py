"""PostgreSQL privileges for the runtime role: it may read and append to the audit trail, never
change, empty or alter it.

The migration role owns the schema (tables, the audit triggers); the console and its workers
connect as a runtime role that owns nothing. `grant_runtime_role` below is idempotent and is run
by `manage.py release` after every migrate, so tables added since the last release are covered
too (default privileges cover tables the migration role creates in between).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction
from psycopg import sql

AUDIT_TABLE = "deployments_ui_auditevent"
CHECKPOINT_TABLE = "deployments_ui_auditcheckpoint"


class GrantRefused(Exception):
    """The role cannot be a runtime role (it owns the audit table or is a superuser)."""


@dataclass(frozen=True)
class RoleCheck:
    exists: bool
    superuser: bool
    owns_audit_table: bool

    @property
    def may_be_runtime(self) -> bool:
        return self.exists and not self.superuser and not self.owns_audit_table


def check_role(role: str, using: str = "default") -> RoleCheck:
    """Whether `role` exists, is a superuser, or owns the audit table."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            return RoleCheck(exists=False, superuser=False, owns_audit_table=False)
        cursor.execute(
            "SELECT pg_has_role(%s, tableowner, 'USAGE') FROM pg_tables "
            "WHERE tablename = %s AND schemaname = current_schema()",
            [role, AUDIT_TABLE],
        )
        owner = cursor.fetchone()
    return RoleCheck(exists=True, superuser=bool(row[0]), owns_audit_table=bool(owner and owner[0]))


def runtime_grants(role: str, schema: str) -> list[sql.Composed]:
    """The statements, in order: everything on the schema's tables and sequences, then the audit
    table narrowed to SELECT and INSERT; the same for tables the current role creates later."""
    names = {
        "who": sql.Identifier(role),
        "schema": sql.Identifier(schema),
        "audit": sql.Identifier(schema, AUDIT_TABLE),
        "checkpoints": sql.Identifier(schema, CHECKPOINT_TABLE),
    }
    return [sql.SQL(statement).format(**names) for statement in _GRANTS]


_GRANTS = [
    "GRANT USAGE ON SCHEMA {schema} TO {who}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {who}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
    "REVOKE ALL ON TABLE {audit} FROM {who}",
    "GRANT SELECT, INSERT ON TABLE {audit} TO {who}",
    # The chain's signed checkpoints (verified heads, pruning cuts) are added, never changed.
    "REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {checkpoints} FROM {who}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {who}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {who}",
]


def grant_runtime_role(role: str, using: str = "default") -> list[str]:
    """Grant `role` what the console needs, on the `using` connection (the schema's owner);
    return the statements run, as text. Nothing to do on SQLite."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    check = check_role(role, using)
    if not check.exists:
        raise GrantRefused(f"There is no database role named {role!r}.")
    if not check.may_be_runtime:
        raise GrantRefused(
            f"The role {role!r} owns the audit table or is a superuser, so it could undo the "
            "audit table's protection: use a role that owns nothing as the runtime role."
        )
    done: list[str] = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone() or ("public",)
        for statement in runtime_grants(role, schema):
            text = statement.as_string(cursor.connection)
            cursor.execute(text)
            done.append(text)
    return done
