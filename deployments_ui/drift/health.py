"""Flow health kept with the outside changes drift detection records.

When a run finds changes, it reads recent runs once (paced like its other requests) and puts
each changed deployment's run summary into the event it records, so that the audit entry
shows what the flow was doing around the change after Patchworks has dropped the runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from deployments_ui.flow_health import HealthBoard, read_board, run_summary
from deployments_ui.patchworks import Deployment, PatchworksClient


def with_run_summaries(
    changes: list[Any],
    current: dict[str, Deployment],
    client: PatchworksClient,
    pace: Callable[[Callable[[], HealthBoard]], HealthBoard],
) -> list[Any]:
    """The changes, each still-present deployment's with `flow_health` in its recorded values:
    one runs request for all of them (none when nothing changed)."""
    changed = {c.target.deployment_id for c in changes if c.target.deployment_id in current}
    if not changed:
        return changes
    board = pace(lambda: read_board(client, [current[key] for key in sorted(changed)]))
    if not board.readable and not board.notice:
        return changes  # flow health is switched off
    return [_with_summary(change, board) for change in changes]


def _with_summary(change: Any, board: HealthBoard) -> Any:
    health = board.get(change.target.deployment_id)
    if change.after is None or (health is None and board.readable):
        return change
    summary = run_summary(health, readable=board.readable)
    return replace(change, after={**change.after, "flow_health": summary})
