"""The console's own database going away: what that looks like, and waiting for it to return.

A lost PostgreSQL (or a SQLite file that cannot be opened) reaches the code as Django's
`OperationalError` or `InterfaceError`, often wrapped in another error (the audit trail's
`AuditUnavailable`, say). Pages answer it with a plain 503 (`views/errors.py`); background work
waits for the database to answer again and carries on where it was (`bulk/running.py`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from django.db import DatabaseError, InterfaceError, OperationalError, connection

DATABASE_GONE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def unreachable(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, says the database cannot be reached."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DATABASE_GONE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def answers() -> bool:
    """Whether the database answers now (on a fresh connection when the last one broke; inside
    a transaction, on the same one)."""
    if not connection.in_atomic_block:
        with contextlib.suppress(DatabaseError):
            connection.close_if_unusable_or_obsolete()
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        if not connection.in_atomic_block:
            with contextlib.suppress(DatabaseError):
                connection.close()
        return False


def wait_for_database(
    *, seconds: float, step: float = 2.0, on_wait: Callable[[], None] | None = None
) -> bool:
    """Wait up to `seconds` for the database to answer again, asking every `step` seconds;
    returns whether it does."""
    deadline = time.monotonic() + seconds
    while not answers():
        if time.monotonic() + step > deadline:
            return False
        time.sleep(step)
        if on_wait is not None:
            on_wait()
    return True
