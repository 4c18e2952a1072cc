"""Reading runs for a page of deployments: ONE request for all rows, and graceful absence.

`read_board` asks Patchworks once for the runs since CONSOLE_FLOW_HEALTH_HOURS ago (newest
first, CONSOLE_FLOW_HEALTH_RUNS of them) and assesses every deployment given. When the key may
not read runs (404 or 403) the board says so once (`notice`, for an Admin) and has no rows, so
pages show nothing beside deployments; any other failure also leaves the rows empty, with a
notice that it is for now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from deployments_ui.core.kept import Kept
from deployments_ui.flow_health.health import Health, Kind, Window, assess, window_of
from deployments_ui.flow_health.summary import remember
from deployments_ui.patchworks import (
    Deployment,
    FlowRun,
    Forbidden,
    NotFound,
    Page,
    PatchworksClient,
    PatchworksError,
)

logger = logging.getLogger(__name__)

NOT_READABLE = (
    "Patchworks does not let the console read flow runs with this API key, so no health is "
    "shown beside deployments."
)
UNAVAILABLE = "Flow health could not be read just now: {message}"


@dataclass(frozen=True)
class HealthBoard:
    """The health of one page's deployments, by deployment id.

    `readable` is False when runs cannot be read at all (404/403) or health is switched off;
    `notice` is the one sentence an Admin should see about it ("" for none).
    """

    rows: Mapping[str, Health] = field(default_factory=dict)
    readable: bool = True
    notice: str = ""
    window: Window | None = None
    runs: tuple[FlowRun, ...] = ()

    def get(self, deployment_id: str) -> Health | None:
        return self.rows.get(deployment_id)


@dataclass(frozen=True)
class RunsRead:
    """One read of recent runs (`read_runs`), not yet assessed: the runs, or the board to show
    when they could not be read."""

    moment: datetime
    since: datetime | None = None
    page: Page[FlowRun] | None = None
    board: HealthBoard | None = None


def read_board(
    client: PatchworksClient, deployments: Iterable[Deployment], *, now: datetime | None = None
) -> HealthBoard:
    """Health for these deployments from one read of recent runs."""
    return board_of(read_runs(client, now=now), deployments)


def read_runs(client: PatchworksClient, *, now: datetime | None = None) -> RunsRead:
    """The board's one request, which needs no deployments: a page may send it while it reads
    its list (no database work here, so that it may run in another thread)."""
    moment = now or timezone.now()
    if not settings.CONSOLE_FLOW_HEALTH_ENABLED:
        return RunsRead(moment, board=HealthBoard(readable=False))
    since = _since(moment)
    try:
        page = client.list_flow_runs(
            started_after=since, per_page=settings.CONSOLE_FLOW_HEALTH_RUNS
        )
    except (NotFound, Forbidden):
        return RunsRead(moment, board=HealthBoard(readable=False, notice=NOT_READABLE))
    except PatchworksError as error:
        logger.info("flow health: runs could not be read (status %s)", error.status)
        return RunsRead(moment, board=HealthBoard(notice=UNAVAILABLE.format(message=error.message)))
    return RunsRead(moment, since, page)


def _since(moment: datetime) -> datetime:
    """Whole minutes, so that everyone viewing a page within the same minute asks the same
    question and shares one answer (patchworks/shared.py, and `runs_this_minute`)."""
    hours = min(max(settings.CONSOLE_FLOW_HEALTH_HOURS, 1), 7 * 24)
    return (moment - timedelta(hours=hours)).replace(second=0, microsecond=0)


# The lists' runs, read once a minute per key in each process
#
# The question a list asks about runs changes once a minute (`_since`), so its answer is kept
# in this process for the rest of that minute: a list page then waits only for its own list.
# Kept per key (`key`: a fingerprint of the person's API key), so that nobody is shown what
# another key read; failures are not kept.

_runs_kept: Kept[tuple, RunsRead] = Kept(32)


def runs_this_minute(key: str, *, now: datetime | None = None) -> RunsRead | None:
    """The runs read kept for this key and this minute's question, if any."""
    return _runs_kept.get(_runs_key(key, now or timezone.now()))


def keep_runs(key: str, read: RunsRead) -> RunsRead:
    """Keep a runs read for the rest of its minute (unless it failed for now), and return it."""
    if read.page is not None or (read.board is not None and not read.board.readable):
        _runs_kept.put(_runs_key(key, read.moment), read)
    return read


def _runs_key(key: str, moment: datetime) -> tuple:
    return (
        key,
        _since(moment),
        settings.CONSOLE_FLOW_HEALTH_ENABLED,
        settings.CONSOLE_FLOW_HEALTH_RUNS,
        settings.PATCHWORKS_BASE_URL,
    )


def board_of(read: RunsRead, deployments: Iterable[Deployment]) -> HealthBoard:
    """These deployments' health from a read of runs."""
    if read.board is not None or read.page is None or read.since is None:
        return read.board or HealthBoard(readable=False)
    page, moment = read.page, read.moment
    window = window_of(page.items, since=read.since, has_more=page.has_next, now=moment)
    rows = assess(list(deployments), page.items, window)
    board = HealthBoard(rows=rows, window=window, runs=tuple(page.items))
    remember(board.rows, read_at=moment)
    return board


def health_of_one(
    client: PatchworksClient, deployment: Deployment, *, now: datetime | None = None
) -> Health | None:
    """One deployment's health (a detail page, drift detection), with the first failing step's
    message when it is failing: two requests at most. None when runs cannot be read."""
    health = read_board(client, [deployment], now=now).get(deployment.id)
    if health is None or health.kind != Kind.FAILING:
        return health
    return with_failure_message(client, health)


def with_failure_message(client: PatchworksClient, health: Health) -> Health:
    """The health with its last failure's first error line (one request for that run's logs).
    Unchanged when there is no failure or its logs cannot be read (they are kept 7 days)."""
    if health.last_failure is None:
        return health
    try:
        logs = client.flow_run_logs(health.last_failure.id).items
    except PatchworksError:
        return health
    error = next((line for line in logs if line.is_error), None)
    if error is None:
        return health
    found = replace(health, failure_message=error.message, failure_step_id=error.flow_step_id)
    remember({found.deployment_id: found})
    return found


@dataclass(frozen=True)
class OneDeployment:
    """One deployment's health and its latest runs (newest first), for its own page."""

    health: Health | None
    runs: tuple[FlowRun, ...]
    readable: bool
    notice: str


def runs_of_one(
    client: PatchworksClient, deployment: Deployment, *, now: datetime | None = None, last: int = 10
) -> OneDeployment:
    """The same one read as a list page (so a page just seen shares it), narrowed to this
    deployment's runs, plus its failing step's message when it is failing."""
    board = read_board(client, [deployment], now=now)
    health = board.get(deployment.id)
    if health is not None and health.kind == Kind.FAILING:
        health = with_failure_message(client, health)
    runs = tuple(run for run in board.runs if _is_of(run, deployment))[:last]
    return OneDeployment(health, runs, board.readable, board.notice)


def _is_of(run: FlowRun, deployment: Deployment) -> bool:
    if run.flow_version_id != deployment.flow_version_id:
        return False
    environment = str(deployment.virtual_environment_id or "") or None
    return not run.names_environment or run.virtual_environment_id == environment
