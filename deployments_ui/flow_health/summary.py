"""A deployment's flow health as a small JSON-safe dict, to snapshot into an audit event, and
that dict in plain words again for the event's page (long after Patchworks dropped the runs).

Every health a page or drift detection works out is remembered for a few minutes
(`remember`), so that a change made from that page can snapshot it (`recall`) without asking
Patchworks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from deployments_ui.flow_health.health import Health
from deployments_ui.patchworks import FlowRun

MAX_FAILURE_TEXT = 200
# How long a health read for a page stays "at hand" for a change made from it.
AT_HAND_SECONDS = 15 * 60
CACHE_PREFIX = "flow-health:summary:"
KIND_WORDS = {
    "fine": "Running fine",
    "failing": "Failing",
    "not_run": "Not running",
    "unknown": "No recent runs seen",
}
STATUS_WORDS = {"succeeded": "succeeded", "failed": "failed", "running": "still running"}


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


# At hand for a change --------------------------------------------------------------------------


def remember(rows: Mapping[str, Health], *, read_at: datetime | None = None) -> None:
    """Keep these healths' summaries for a few minutes, for a change made meanwhile."""
    if not rows:
        return
    moment = _iso(read_at or timezone.now())
    # The console's cache is Redis that answers nothing rather than failing when it is down.
    cache.set_many(
        {
            f"{CACHE_PREFIX}{key}": {**run_summary(health), "read_at": moment}
            for key, health in rows.items()
        },
        AT_HAND_SECONDS,
    )


def recall(deployment_id: str) -> dict[str, Any] | None:
    """The summary of this deployment's health read lately (None: none at hand)."""
    found = cache.get(f"{CACHE_PREFIX}{deployment_id}")
    return found if isinstance(found, dict) else None


# In words again ------------------------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return timezone.localtime(moment) if moment and moment.tzinfo else None


def _when(value: Any) -> str:
    moment = _moment(value)
    return f"{moment.day} {moment:%b %Y} at {moment:%H:%M}" if moment else ""


def summary_lines(summary: Any) -> list[tuple[str, str]]:
    """(label, words) for a snapshot: what the flow was doing, its runs, its last failure.
    Times in the current time zone; nothing for a value that is not a snapshot."""
    if not isinstance(summary, dict):
        return []
    if not summary.get("readable", True):
        return [("Flow health", "Patchworks did not let the console read the flow's runs")]
    kind = str(summary.get("kind", "unknown"))
    state = KIND_WORDS.get(kind, KIND_WORDS["unknown"])
    since = _when(summary.get("since"))
    if since and kind in ("failing", "not_run"):
        state = f"{'Failing' if kind == 'failing' else 'Not run'} since {since}"
    lines = [("Flow health", state)]
    if summary.get("shared"):
        lines.append(("Runs counted", "this version's runs in all its environments"))
    if "runs" in summary:
        failed = int(summary.get("failed") or 0)
        lines.append(("Recent runs", f"{summary['runs']} ({failed} failed)"))
    for label, key in (("Last run", "last_run"), ("Last failure", "last_failure")):
        run = summary.get(key)
        if isinstance(run, dict) and _when(run.get("started_at")):
            status = STATUS_WORDS.get(str(run.get("status")), "outcome not known")
            lines.append((label, f"{_when(run['started_at'])} ({status})"))
    if summary.get("failure"):
        lines.append(("The failing step said", str(summary["failure"])))
    if _when(summary.get("read_at")):
        lines.append(("Read from Patchworks", _when(summary["read_at"])))
    return lines
