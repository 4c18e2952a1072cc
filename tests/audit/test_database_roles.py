"""On PostgreSQL the audit table refuses TRUNCATE, and the runtime role cannot undo its guard.

The runtime-role tests run the console's own writes under `SET ROLE <throwaway role>` on the
test's connection (the privileges checked are then that role's, exactly as if it had logged in),
and the release test logs in as a throwaway role over a real connection with psycopg.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from deployments_ui import audit
from deployments_ui.audit.grants import AUDIT_TABLE
from deployments_ui.models import AuditEvent
from tests.factories import DISABLED, ENABLED, TARGET, actor_for, console_disable

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="roles and the TRUNCATE trigger exist only on PostgreSQL (set DATABASE_URL)",
)
ROOT = Path(__file__).resolve().parents[2]

# What the runtime role must never do to the audit table, and the refusal PostgreSQL gives.
FORBIDDEN = {
    "UPDATE": f"UPDATE {AUDIT_TABLE} SET reason = 'changed'",
    "DELETE": f"DELETE FROM {AUDIT_TABLE}",
    "TRUNCATE": f"TRUNCATE {AUDIT_TABLE}",
    "ALTER TABLE": f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER audit_append_only",
    "DROP TRIGGER": f"DROP TRIGGER audit_append_only ON {AUDIT_TABLE}",
}


def _role_name() -> str:
    # Roles are shared by every database on the server: never reuse a name.
    return f"console_runtime_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def runtime_role(db) -> Iterator[str]:
    """A role that owns nothing, granted by the command (rolled back with the test)."""
    role = _role_name()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
    call_command("grant_runtime_role", role, stdout=open(os.devnull, "w"))  # noqa: SIM115
    yield role


def _as(role: str):
    class _Role:
        def __enter__(self) -> None:
            with connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{role}"')

        def __exit__(self, *exc: object) -> None:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")

    return _Role()


@on_postgres
def test_truncate_is_refused(ann):
    console_disable(actor_for(ann))
    with (
        pytest.raises(DatabaseError, match="append-only: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # Fire the deferred foreign-key checks first, or PostgreSQL refuses for that reason.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {AUDIT_TABLE}")
    assert AuditEvent.objects.count() == 2


@on_postgres
def test_the_runtime_role_still_records_attempts_outcomes_and_drift(ann, runtime_role):
    with _as(runtime_role):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == runtime_role
        console_disable(actor_for(ann), outcome="succeeded")
        audit.record_external(
            action="enable", target=TARGET, before=DISABLED, after=ENABLED, actor_name="Dana"
        )
        assert audit.verify_chain().ok
    assert list(AuditEvent.objects.order_by("id").values_list("action", "outcome")) == [
        ("disable", "pending"),
        ("disable", "succeeded"),
        ("enable", "succeeded"),
    ]


@on_postgres
@pytest.mark.parametrize("what", FORBIDDEN)
def test_the_runtime_role_cannot_change_empty_or_unguard_the_audit_table(ann, runtime_role, what):
    console_disable(actor_for(ann))
    with (
        _as(runtime_role),
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(FORBIDDEN[what])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled = 'O' "
            "AND NOT tgisinternal",
            [AUDIT_TABLE],
        )
        assert cursor.fetchone()[0] == 2
    assert AuditEvent.objects.count() == 2


@on_postgres
def test_granting_is_idempotent_and_leaves_other_tables_writable(ann, runtime_role):
    call_command("grant_runtime_role", runtime_role, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = %s ORDER BY privilege_type",
            [runtime_role, AUDIT_TABLE],
        )
        assert [row[0] for row in cursor.fetchall()] == ["INSERT", "SELECT"]
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = 'auth_user' ORDER BY privilege_type",
            [runtime_role],
        )
        assert [row[0] for row in cursor.fetchall()] == ["DELETE", "INSERT", "SELECT", "UPDATE"]


@on_postgres
def test_the_schema_owner_is_refused_as_a_runtime_role(db):
    with pytest.raises(CommandError, match="owns the audit table or is a superuser"):
        call_command("grant_runtime_role", connection.settings_dict["USER"])
    with pytest.raises(CommandError, match="no database role"):
        call_command("grant_runtime_role", _role_name())


@pytest.mark.skipif(connection.vendor == "postgresql", reason="what happens on SQLite")
def test_on_sqlite_there_are_no_roles_to_grant(db, capsys):
    call_command("grant_runtime_role", "console")
    assert "Not PostgreSQL" in capsys.readouterr().out


def test_release_migrates_and_says_what_it_granted(db, capsys):
    call_command("release", verbosity=0)
    out = capsys.readouterr().out
    if connection.vendor == "postgresql":
        # The test database has one role, the owner: release says so and grants nothing.
        assert "owns the schema" in out and "No grants made" in out
    else:
        assert "Not PostgreSQL" in out


def _release(database_url: str, migrate_database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "MIGRATE_DATABASE_URL": migrate_database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "release", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _url(user: str) -> str:
    settings = connection.settings_dict
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{user}@{host}/{settings['NAME']}"


@on_postgres
def test_release_refuses_a_runtime_url_that_owns_the_schema(db):
    owner = _url(connection.settings_dict["USER"])
    result = _release(owner, owner)
    assert result.returncode == 1
    assert "must be an existing role that owns nothing" in result.stderr


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_release_with_two_urls_leaves_a_runtime_login_that_cannot_touch_the_trail():
    """The production setup end to end: `release` in its own process with MIGRATE_DATABASE_URL
    (the owner) and DATABASE_URL (a login role that owns nothing), then that role logs in."""
    role = _role_name()
    runtime = _url(role)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        result = _release(runtime, _url(connection.settings_dict["USER"]))
        assert result.returncode == 0, result.stderr
        assert f"Runtime role {role} granted" in result.stdout
        # Without the owner's URL, release cannot grant, and says so.
        alone = _release(runtime, "")
        assert alone.returncode == 0, alone.stderr
        assert "owns nothing, so it cannot grant" in alone.stdout

        with psycopg.connect(runtime.replace("postgres://", "postgresql://")) as login:
            login.execute(f"SELECT count(*) FROM {AUDIT_TABLE}").fetchone()
            login.execute("SELECT count(*) FROM auth_user").fetchone()
            for statement in FORBIDDEN.values():
                with pytest.raises(psycopg.errors.InsufficientPrivilege), login.transaction():
                    login.execute(statement)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_release_migrates_a_fresh_database_with_the_two_roles():
    """A first deploy: `release` on an empty database, as its owner, granting a runtime login
    (every data migration must write through the owner's connection, not the default one)."""
    role, database = _role_name(), f"release_fresh_{uuid.uuid4().hex[:10]}"
    owner = connection.settings_dict["USER"]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    try:
        host = _url(owner).rsplit("/", 1)[0].split("@", 1)[1]
        result = _release(
            f"postgres://{role}@{host}/{database}", f"postgres://{owner}@{host}/{database}"
        )
        assert result.returncode == 0, result.stderr
        assert f"Runtime role {role} granted" in result.stdout
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')
