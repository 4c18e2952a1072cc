"""Writing the demo data: a full load, and a quick restore from a snapshot for resets.

A full load builds every row in Python and bulk-inserts it. It also copies the demo tables into
snapshot tables, so that a reset, run before every test that wrote something, is a handful of
INSERT ... SELECT statements instead. A snapshot older than SNAPSHOT_MAX_AGE is not used, so that
the demo's "N days ago" timestamps stay roughly relative to now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from sandbox.demo import build_demo_data
from sandbox.models import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    RunWindow,
    SandboxState,
    SandboxUser,
    VirtualEnvironment,
)

# Parents last, so that reversed() gives an order for inserting.
DEMO_MODELS: list[type[Model]] = [
    RunWindow,
    Deployment,
    FlowVersion,
    Flow,
    VirtualEnvironment,
    Package,
    SandboxUser,
]
SNAPSHOT_PREFIX = "sandbox_snapshot_"
SNAPSHOT_MAX_AGE = timedelta(hours=1)
# How long a reset waits for writes still in progress; tests hold writes for a second or two.
WRITE_WAIT_SECONDS = 15.0


@dataclass
class Loaded:
    flows: int
    versions: int
    deployments: int
    restored: bool


def has_demo_data() -> bool:
    return SandboxUser.objects.exists()


def mark_changed() -> None:
    """Note that the demo data may differ from a fresh load (any write, even a failed one)."""
    # No row yet counts as changed already (see is_changed), so a plain UPDATE is enough.
    SandboxState.objects.filter(pk=1).update(changed=True)


def write_started() -> None:
    """A write arrived: the data may change, and a reset must wait until it is answered."""
    SandboxState.objects.filter(pk=1).update(
        changed=True, writes_in_flight=F("writes_in_flight") + 1
    )


def write_finished() -> None:
    SandboxState.objects.filter(pk=1, writes_in_flight__gt=0).update(
        writes_in_flight=F("writes_in_flight") - 1
    )


def wait_for_writes(timeout: float = WRITE_WAIT_SECONDS) -> None:
    """Let writes still in progress (a fault may hold one for seconds) land before a reset,
    so that none of them changes the fresh data after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not SandboxState.objects.filter(pk=1, writes_in_flight__gt=0).exists():
            return
        time.sleep(0.02)
    # A write that never finished (its worker was killed) must not block resets for good.
    SandboxState.objects.filter(pk=1).update(writes_in_flight=0)


def is_changed() -> bool:
    # No state row yet: never loaded (or by an older version); reload to be sure.
    state = SandboxState.objects.filter(pk=1).first()
    return state is None or state.changed


def load_demo_data() -> Loaded:
    """Replace every demo table's rows with freshly built demo data, and snapshot them."""
    now = timezone.now()
    data = build_demo_data(now)
    with transaction.atomic():
        _wipe()
        tables: tuple[list[Any], ...] = (
            data.users,
            data.packages,
            data.environments,
            data.flows,
            data.versions,
            data.deployments,
            data.windows,
        )
        for rows in tables:
            type(rows[0]).objects.bulk_create(rows, batch_size=500)
        _reset_sequences()
        _take_snapshot()
        SandboxState.objects.update_or_create(
            pk=1,
            defaults={
                "changed": False,
                "loaded_at": now,
                "max_enabled": None,
                "runs_days_ahead": 0,
            },
        )
    return Loaded(len(data.flows), len(data.versions), len(data.deployments), restored=False)


def reset_demo_data(full: bool = False) -> Loaded:
    """Restore the demo data from its snapshot if there is a recent one, else load it afresh."""
    state = SandboxState.objects.filter(pk=1).first()
    recent = state and state.loaded_at and timezone.now() - state.loaded_at < SNAPSHOT_MAX_AGE
    if recent and not full:
        try:
            with transaction.atomic():
                _wipe()
                _restore_snapshot()
                _reset_sequences()
                SandboxState.objects.filter(pk=1).update(
                    changed=False, max_enabled=None, runs_days_ahead=0
                )
        except DatabaseError:
            pass  # no snapshot, or one from an older schema: build the data again
        else:
            counts = (Flow.objects.count(), FlowVersion.objects.count())
            return Loaded(*counts, Deployment.objects.count(), restored=True)
    return load_demo_data()


def _execute(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _wipe() -> None:
    tables = [model._meta.db_table for model in DEMO_MODELS]
    # The backend's own flush SQL also restarts the id sequences, so ids are the same each time.
    _execute(connection.ops.sql_flush(no_style(), tables, reset_sequences=True))


def _reset_sequences() -> None:
    # Explicit ids do not advance PostgreSQL's sequences (SQLite's AUTOINCREMENT follows them).
    _execute(connection.ops.sequence_reset_sql(no_style(), DEMO_MODELS))


def _columns(model: type[Model]) -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields)


# The SQL below is built from our own models' table and column names, quoted: no user input.


def _take_snapshot() -> None:
    statements = []
    for model in DEMO_MODELS:
        table = connection.ops.quote_name(model._meta.db_table)
        snapshot = connection.ops.quote_name(SNAPSHOT_PREFIX + model._meta.db_table)
        statements.append(f"DROP TABLE IF EXISTS {snapshot}")
        copy = f"CREATE TABLE {snapshot} AS SELECT {_columns(model)} FROM {table}"  # noqa: S608
        statements.append(copy)
    _execute(statements)


def _restore_snapshot() -> None:
    statements = []
    for model in reversed(DEMO_MODELS):
        table = connection.ops.quote_name(model._meta.db_table)
        snapshot = connection.ops.quote_name(SNAPSHOT_PREFIX + model._meta.db_table)
        columns = _columns(model)
        copy = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {snapshot}"  # noqa: S608
        statements.append(copy)
    _execute(statements)
