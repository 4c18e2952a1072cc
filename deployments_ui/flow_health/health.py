"""How each deployment's flow is doing, worked out from one page of recent runs.

Pure: no HTTP, no database. `assess` takes the deployments of a page and the runs read once for
all of them (newest first, since `window_start`) and gives each deployment a small `Health`.

Patchworks' runs name their flow version, not their deployment. Where runs also name their
environment (not published; some shapes do) a deployment's runs are told apart by it; where
they do not and one version is deployed more than once in the list, each of those deployments
is given the version's runs and marked `shared`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from statistics import median

from deployments_ui.patchworks import Deployment, FlowRun

# A flow that has run regularly is "not running" once it misses this many of its usual gaps.
MISSED_GAPS = 3
SLACK = timedelta(minutes=10)


class Kind(StrEnum):
    FINE = "fine"
    FAILING = "failing"
    NOT_RUN = "not_run"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RunCounts:
    total: int = 0
    failed: int = 0
    succeeded: int = 0
    running: int = 0


@dataclass(frozen=True, slots=True)
class Health:
    """One deployment's flow health. `since` is when the present state began, as far as the
    runs read can tell (None: not known). `failure_message` is filled only by
    `reading.with_failure_message` (one more request), "" until then."""

    deployment_id: str
    kind: Kind
    since: datetime | None
    counts: RunCounts
    last_run: FlowRun | None
    last_failure: FlowRun | None
    enabled: bool
    shared: bool = False
    failure_message: str = ""
    failure_step_id: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """What the one read covered: runs since `start`, all of them when `complete`."""

    start: datetime
    complete: bool
    now: datetime


def window_of(runs: Sequence[FlowRun], *, since: datetime, has_more: bool, now: datetime) -> Window:
    """A page that stopped short (more pages) covers only back to its oldest run."""
    if not has_more:
        return Window(since, True, now)
    starts = [run.started_at for run in runs if run.started_at is not None]
    return Window(min(starts) if starts else now, False, now)


def assess(
    deployments: Iterable[Deployment], runs: Sequence[FlowRun], window: Window
) -> dict[str, Health]:
    """Each deployment's health, by deployment id, from one page of runs."""
    listed = list(deployments)
    by_version: dict[str, list[FlowRun]] = defaultdict(list)
    for run in sorted(runs, key=_newest_first):
        if run.flow_version_id:
            by_version[run.flow_version_id].append(run)
    copies: dict[str, int] = defaultdict(int)
    for deployment in listed:
        copies[deployment.flow_version_id] += 1
    # Whether Patchworks names runs' environments is a matter of its shape: one page tells.
    named = any(run.names_environment for run in runs)
    by_place: dict[tuple[str, str | None], list[FlowRun]] = defaultdict(list)
    if named:  # each deployment's own runs, found once for the page (newest first still)
        for version, version_runs in by_version.items():
            for run in version_runs:
                by_place[(version, run.virtual_environment_id)].append(run)
    result: dict[str, Health] = {}
    for deployment in listed:
        if named:
            place = (deployment.flow_version_id, deployment.virtual_environment_id)
            own, shared = by_place.get(place, []), False
        else:
            version_runs = by_version[deployment.flow_version_id]
            own, shared = version_runs, copies[deployment.flow_version_id] > 1
        result[deployment.id] = health_of(deployment, own, window, shared=shared)
    return result


def _newest_first(run: FlowRun) -> float:
    return -run.started_at.timestamp() if run.started_at else 0.0


def health_of(
    deployment: Deployment, runs: Sequence[FlowRun], window: Window, *, shared: bool = False
) -> Health:
    """One deployment's health from its runs (newest first)."""
    counts = RunCounts(
        total=len(runs),
        failed=sum(run.is_failed for run in runs),
        succeeded=sum(run.status == "succeeded" for run in runs),
        running=sum(run.status == "running" for run in runs),
    )
    last_failure = next((run for run in runs if run.is_failed), None)
    kind, since = _state(deployment, runs, window, shared)
    return Health(
        deployment_id=deployment.id,
        kind=kind,
        since=since,
        counts=counts,
        last_run=runs[0] if runs else None,
        last_failure=last_failure,
        enabled=deployment.is_enabled,
        shared=shared,
    )


def _state(
    deployment: Deployment, runs: Sequence[FlowRun], window: Window, shared: bool
) -> tuple[Kind, datetime | None]:
    finished = [run for run in runs if run.is_finished]
    if not deployment.is_enabled:
        # A shared version's runs may be another environment's: no "last run" for this one.
        last = runs[0].started_at if runs and not shared else None
        return Kind.NOT_RUN, last
    if not runs:
        if not window.complete:
            return Kind.UNKNOWN, None
        enabled_at = deployment.enabled_at
        return Kind.NOT_RUN, max(window.start, enabled_at) if enabled_at else window.start
    stalled = _stalled_since(runs, window.now)
    if stalled is not None:
        return Kind.NOT_RUN, stalled
    if not finished:
        return Kind.FINE, None  # running now, nothing finished yet in view
    streak = _streak(finished)
    kind = Kind.FAILING if finished[0].is_failed else Kind.FINE
    return kind, streak[-1].started_at


def _streak(finished: Sequence[FlowRun]) -> list[FlowRun]:
    """The newest finished runs that ended the same way as the newest one."""
    first = finished[0].is_failed
    streak = []
    for run in finished:
        if run.is_failed != first:
            break
        streak.append(run)
    return streak


def _stalled_since(runs: Sequence[FlowRun], now: datetime) -> datetime | None:
    """When a flow that ran regularly last ran, if it has since missed several of its gaps."""
    starts = [run.started_at for run in runs if run.started_at is not None]
    if len(starts) < 3:
        return None
    gaps = [newer - older for newer, older in pairwise(starts)]
    usual = timedelta(seconds=median(gap.total_seconds() for gap in gaps))
    if now - starts[0] > usual * MISSED_GAPS + SLACK:
        return starts[0]
    return None


def after_change(deployment: Deployment, summary: dict | None) -> Health | None:
    """A deployment's health just after the console disabled it, from what was read before
    (`summary.run_summary`), without reading again: not running, since its last run. None for
    an enabled one (its runs tell once it has run)."""
    if deployment.is_enabled:
        return None
    summary = summary or {}
    last = summary.get("last_run") if not summary.get("shared") else None
    started = last.get("started_at") if isinstance(last, dict) else None
    since = datetime.fromisoformat(started) if isinstance(started, str) else None
    return Health(deployment.id, Kind.NOT_RUN, since, RunCounts(), None, None, enabled=False)
