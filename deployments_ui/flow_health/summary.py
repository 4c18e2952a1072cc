"""A deployment's flow health as a small JSON-safe dict, to snapshot into an audit event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deployments_ui.flow_health.health import Health
from deployments_ui.patchworks import FlowRun

MAX_FAILURE_TEXT = 200


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _run(run: FlowRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "status": run.status, "started_at": _iso(run.started_at)}


def run_summary(health: Health | None, *, readable: bool = True) -> dict[str, Any]:
    """What the runs said when a change was made: kind, since, counts, last run and failure.

    `health` None: runs could not be read (`readable` False) or this deployment has no health.
    """
    if health is None:
        return {"readable": readable, "kind": "unknown"}
    summary: dict[str, Any] = {
        "readable": True,
        "kind": str(health.kind),
        "since": _iso(health.since),
        "runs": health.counts.total,
        "failed": health.counts.failed,
        "last_run": _run(health.last_run),
        "last_failure": _run(health.last_failure),
    }
    if health.failure_message:
        summary["failure"] = health.failure_message[:MAX_FAILURE_TEXT]
    if health.shared:
        summary["shared"] = True
    return summary
