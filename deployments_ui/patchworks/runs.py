"""Flow runs and their log lines, as the console reads them (tolerant, like the deployments).

Patchworks publishes `GET /api/v1/flow-runs` and `GET /api/v1/flow-runs/{id}/flow-run-logs`;
docs/PATCHWORKS.md records what is published and what the console assumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployments_ui.patchworks.types import (
    _datetime,
    _first,
    _id,
    _int,
    _related,
    _required_fields,
    _str,
)

# A run's status, in the console's words. Patchworks publishes only 3 (failed).
RUNNING, SUCCEEDED, FAILED, UNKNOWN = "running", "succeeded", "failed", "unknown"


@dataclass(frozen=True, slots=True)
class FlowRun:
    """One run of a flow version. `names_environment` says whether Patchworks said which
    environment it ran in (it publishes no such field); `virtual_environment_id` is then the
    environment's id, or None for the global deployment."""

    id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    flow_id: str | None
    flow_version_id: str | None
    virtual_environment_id: str | None
    names_environment: bool

    @property
    def is_failed(self) -> bool:
        return self.status == FAILED

    @property
    def is_finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)


@dataclass(frozen=True, slots=True)
class FlowRunLog:
    """One line a run wrote. `message` is Patchworks' text, cleaned to one short line."""

    id: str
    level: str
    message: str
    flow_step_id: str | None
    created_at: datetime | None

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS


ERROR_LEVELS = frozenset({"error", "critical", "alert", "emergency", "fatal"})


STATUS_CODES = {1: RUNNING, 2: SUCCEEDED, 3: FAILED}


STATUS_WORDS = {
    FAILED: {"failed", "failure", "fail", "error", "errored"},
    SUCCEEDED: {"succeeded", "success", "successful", "completed", "complete", "finished", "ok"},
    RUNNING: {"running", "started", "in_progress", "in progress", "queued", "pending"},
}


def run_status(value: Any) -> str:
    """A run's status in our words, from Patchworks' number (3 is failed) or a word."""
    number = _int(value)
    if number is not None:
        return STATUS_CODES.get(number, UNKNOWN)
    word = _str(value).strip().lower()
    return next((status for status, words in STATUS_WORDS.items() if word in words), UNKNOWN)


def parse_flow_run(obj: Any) -> FlowRun:
    f, ident = _required_fields(obj)
    version = _id(_first(f, "flow_version_id", "flowVersionId")) or _id(
        _related(f, "flowVersion", "flow_version")
    )
    flow = _id(_first(f, "flow_id", "flowId")) or _id(_related(f, "flow"))
    environment_keys = ("virtual_environment_id", "virtualEnvironmentId", "virtualEnvironment")
    names_environment = any(key in f for key in environment_keys)
    environment = _id(_first(f, *environment_keys))
    return FlowRun(
        id=ident,
        status=run_status(f.get("status")),
        started_at=_datetime(_first(f, "started_at", "startedAt")),
        finished_at=_datetime(_first(f, "finished_at", "finishedAt")),
        flow_id=flow,
        flow_version_id=version,
        virtual_environment_id=environment,
        names_environment=names_environment,
    )


# Monolog's numeric levels, should Patchworks send those instead of words.
LEVEL_NUMBERS = ((500, "critical"), (400, "error"), (300, "warning"), (200, "info"), (0, "debug"))


def _level(value: Any) -> str:
    number = _int(value)
    if number is not None:
        return next(word for floor, word in LEVEL_NUMBERS if number >= floor)
    return _str(value).strip().lower() or "info"


def parse_flow_run_log(obj: Any) -> FlowRunLog:
    f, ident = _required_fields(obj)
    message = " ".join(_str(_first(f, "log_message", "logMessage", "message")).split())
    return FlowRunLog(
        id=ident,
        level=_level(_first(f, "log_level", "logLevel", "level")),
        message=message if len(message) <= 300 else message[:299] + "…",
        flow_step_id=_id(_first(f, "flow_step_id", "flowStepId")) or _id(_related(f, "flowStep")),
        created_at=_datetime(_first(f, "created_at", "createdAt")),
    )
