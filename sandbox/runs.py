"""Flow runs, worked out from time rather than stored.

Every stretch of time a deployment is enabled (a `RunWindow`) runs its flow every few minutes:
run k of a window starts k intervals after the window opened, lasts a minute or two, and fails
from the window's `fails_from` on (and now and then anyway). A disabled deployment does not run.
Runs older than RETENTION are gone, as Patchworks keeps run logs for 7 days. The same time always
gives the same runs, ids and log lines, so tests and demos can rely on them.

A run's id encodes its window and number (window id * RUN_ID_BASE + k), so a log request can
find its run again without anything stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from sandbox.models import Deployment, RunWindow, SandboxState

RETENTION = timedelta(days=7)
INTERVALS_MINUTES = (10, 15, 20, 30, 60)
RUN_ID_BASE = 10**7
LOGS_PER_RUN = 10
MASK = 2**64 - 1

# Patchworks publishes only 3 (failed); 1 and 2 are our guess (docs/PATCHWORKS.md).
RUNNING, SUCCEEDED, FAILED = 1, 2, 3
OCCASIONAL_FAILURE_PERCENT = 4

FAILURES = (
    "Shopify answered 401 Unauthorized: the access token has expired.",
    "Timed out after 30 seconds waiting for NetSuite to answer.",
    "Mapping failed: the field 'sku' is missing on 3 records.",
    "The destination refused the payload: 422 Unprocessable Entity.",
)


@dataclass(frozen=True)
class Run:
    id: int
    flow_id: int
    flow_version_id: int
    virtual_environment_id: int | None
    started_at: datetime
    finished_at: datetime | None
    status: int


@dataclass(frozen=True)
class Log:
    id: int
    log_level: str
    log_message: str
    flow_step_id: int | None
    created_at: datetime


def _mix(value: int, salt: int) -> int:
    """A stable pseudo-random number for these integers (SplitMix64's finaliser; hash() would
    differ between processes)."""
    z = (value * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def interval(deployment_id: int) -> timedelta:
    return timedelta(minutes=INTERVALS_MINUTES[deployment_id % len(INTERVALS_MINUTES)])


def _status(window: RunWindow, run_id: int, started: datetime, now: datetime) -> int:
    if started + _duration(run_id) > now:
        return RUNNING
    failing = window.fails_from is not None and started >= window.fails_from
    if failing or _mix(run_id, 2) % 100 < OCCASIONAL_FAILURE_PERCENT:
        return FAILED
    return SUCCEEDED


def _duration(run_id: int) -> timedelta:
    return timedelta(seconds=20 + _mix(run_id, 1) % 160)


def _run(window: RunWindow, k: int, now: datetime) -> Run:
    deployment = window.deployment
    run_id = window.id * RUN_ID_BASE + k
    started = window.started_at + k * interval(deployment.id)
    status = _status(window, run_id, started, now)
    finished_or_none = None if status == RUNNING else started + _duration(run_id)
    return Run(
        id=run_id,
        flow_id=deployment.flow_id,
        flow_version_id=deployment.flow_version_id,
        virtual_environment_id=deployment.virtual_environment_id,
        started_at=started,
        finished_at=finished_or_none,
        status=status,
    )


def _numbers(window: RunWindow, lower: datetime, now: datetime) -> range:
    """The k of this window's runs that started at or after `lower`, up to now."""
    step = interval(window.deployment.id)
    end = min(window.ended_at or now, now)
    if end <= window.started_at:
        return range(0)
    last = math.floor((end - window.started_at) / step)
    first = max(1, math.ceil((lower - window.started_at) / step))
    return range(first, last + 1)


def _windows(lower: datetime) -> list[RunWindow]:
    still_open = Q(ended_at__isnull=True) | Q(ended_at__gte=lower)
    return list(RunWindow.objects.filter(still_open).select_related("deployment"))


def clock() -> datetime:
    """The runs' time now: the real time, or later when a test moved it (/__sandbox__/clock)."""
    ahead = SandboxState.objects.filter(pk=1).values_list("runs_days_ahead", flat=True).first()
    return timezone.now() + timedelta(days=ahead or 0)


def runs(
    *,
    started_after: datetime | None = None,
    statuses: set[int] | None = None,
    newest_first: bool = True,
) -> RunList:
    """Every run kept (the last 7 days), filtered, sorted by start time.

    Only start times and ids are worked out for them all; a run is made whole when its page
    is read.
    """
    now = clock()
    lower = now - RETENTION
    if started_after is not None:
        lower = max(lower, started_after)
    keys: list[Key] = []
    for window in _windows(lower):
        step = interval(window.deployment.id)
        base = window.id * RUN_ID_BASE
        for k in _numbers(window, lower, now):
            started = window.started_at + k * step
            if statuses is None or _status(window, base + k, started, now) in statuses:
                keys.append((started, base + k, window, k))
    keys.sort(key=lambda key: (key[0], key[1]), reverse=newest_first)
    return RunList(keys, now)


Key = tuple[datetime, int, RunWindow, int]


class RunList(Sequence[Run]):
    """Runs in order, each made whole only when read (a page is a slice)."""

    def __init__(self, keys: list[Key], now: datetime) -> None:
        self._keys = keys
        self._now = now

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: Any) -> Any:  # an int or a slice, as a list's
        if isinstance(index, slice):
            return [_run(window, k, self._now) for _, _, window, k in self._keys[index]]
        _, _, window, k = self._keys[index]
        return _run(window, k, self._now)


def find(run_id: int) -> Run | None:
    """One run by id, if it happened and is still kept."""
    window_id, k = divmod(run_id, RUN_ID_BASE)
    window = RunWindow.objects.filter(pk=window_id).select_related("deployment").first()
    if window is None or k < 1:
        return None
    now = clock()
    if k not in _numbers(window, now - RETENTION, now):
        return None
    return _run(window, k, now)


def logs(run: Run) -> list[Log]:
    """What a run wrote: start, its steps, and an error at the failing step."""
    step = run.flow_version_id * 100
    seed = _mix(run.id, 3)
    records = 1 + seed % 250
    at = run.started_at
    lines = [
        ("info", "Flow run started.", None),
        ("info", f"Fetched {records} records from the source.", step + 1),
    ]
    if run.status == FAILED:
        failing_step = step + 2 + seed % 3
        lines.append(("error", FAILURES[seed % len(FAILURES)], failing_step))
        lines.append(("info", "Flow run failed.", None))
    elif run.status == SUCCEEDED:
        lines.append(("info", f"Sent {records} records to the destination.", step + 2))
        lines.append(("info", "Flow run finished.", None))
    return [
        Log(run.id * LOGS_PER_RUN + i, level, message, flow_step, at + timedelta(seconds=5 * i))
        for i, (level, message, flow_step) in enumerate(lines)
    ]


# Keeping the windows in step with the deployment ------------------------------------------------


def sync_window(deployment: Deployment) -> None:
    """Open a window when the deployment is enabled, close it when disabled."""
    open_window = RunWindow.objects.filter(deployment=deployment, ended_at__isnull=True).first()
    if deployment.enabled_at is not None and open_window is None:
        RunWindow.objects.create(deployment=deployment, started_at=deployment.enabled_at)
    elif deployment.enabled_at is None and open_window is not None:
        open_window.ended_at = timezone.now()
        open_window.save(update_fields=["ended_at"])
