"""Leases in the database, so that one of several instances runs a background job at a time.

Taking a lease is one conditional UPDATE (free, expired, or already ours), or an INSERT the
first time; both are atomic on SQLite and PostgreSQL, so two instances never both win.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments_ui.core.models import SyncLease


def acquire(name: str, holder: str, seconds: int) -> bool:
    """Take the lease if it is free, expired or already ours."""
    now = timezone.now()
    try:
        if _extend(name, holder, now, seconds, Q(expires_at__lt=now) | Q(holder=holder)):
            return True
        with transaction.atomic():
            SyncLease.objects.create(
                name=name, holder=holder, expires_at=now + timedelta(seconds=seconds)
            )
        return True
    except IntegrityError:
        return False
    except OperationalError as exc:
        # SQLite: another instance is writing the lease at this moment, so it is not ours.
        if "locked" in str(exc):
            return False
        raise


def renew(name: str, holder: str, seconds: int) -> bool:
    """Extend our lease; False if another instance has taken it meanwhile."""
    return _extend(name, holder, timezone.now(), seconds, Q(holder=holder))


def release(name: str, holder: str) -> None:
    """Give the lease up at once (if it is still ours)."""
    SyncLease.objects.filter(name=name, holder=holder).update(holder="", expires_at=timezone.now())


def mark_completed(name: str, holder: str, at: datetime) -> None:
    """Note that the job holding this lease finished a run at `at`."""
    SyncLease.objects.filter(name=name, holder=holder).update(completed_at=at)


def last_completed(name: str) -> datetime | None:
    """When a run of this job last finished, or None if none ever has."""
    return SyncLease.objects.filter(name=name).values_list("completed_at", flat=True).first()


def holder_name() -> str:
    """A name for this process that no other instance shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


def _extend(name: str, holder: str, now: datetime, seconds: int, condition: Q) -> bool:
    updated = (
        SyncLease.objects.filter(name=name)
        .filter(condition)
        .update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    )
    return updated == 1


def claim_run(name: str, every_seconds: float, now: datetime | None = None) -> bool:
    """Claim this period's run of a periodic job: True for one caller per period, however many
    consumers fire it. The claim is one conditional UPDATE (or the first INSERT), atomic on
    SQLite and PostgreSQL; half a period of slack absorbs clock skew between machines."""
    now = now or timezone.now()
    since = now - timedelta(seconds=every_seconds / 2)
    try:
        claimed = (
            SyncLease.objects.filter(name=name)
            .filter(Q(completed_at__isnull=True) | Q(completed_at__lt=since))
            .update(completed_at=now)
        )
        if claimed:
            return True
        if SyncLease.objects.filter(name=name).exists():
            return False
        with transaction.atomic():
            SyncLease.objects.create(name=name, completed_at=now)
        return True
    except IntegrityError:
        return False
    except OperationalError as exc:
        if "locked" in str(exc):
            return False
        raise


def beat(name: str, holder: str, now: datetime | None = None) -> None:
    """Note that `holder` is alive (a heartbeat); `last_completed(name)` reads it back."""
    now = now or timezone.now()
    updated = SyncLease.objects.filter(name=name).update(holder=holder, completed_at=now)
    if not updated:
        try:
            with transaction.atomic():
                SyncLease.objects.create(name=name, holder=holder, completed_at=now)
        except IntegrityError:
            SyncLease.objects.filter(name=name).update(holder=holder, completed_at=now)


# This process's name as a lease holder (host and process id).
HOLDER = holder_name()


# When this process started consuming background tasks (None outside a worker): a change that
# ran late can then say whether no worker ran at its time or the worker was busy.
_consumer_started: list[datetime] = []


def mark_consumer_started(at: datetime | None = None) -> None:
    _consumer_started[:] = [at or timezone.now()]


def consumer_started() -> datetime | None:
    return _consumer_started[0] if _consumer_started else None
