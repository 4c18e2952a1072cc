"""Flow health beside every deployment: how its flow has been running, in plain words.

No views, no templates: pages and drift detection call these.

- `read_board(client, deployments)`: ONE request for a page of deployments; `board.get(id)`
  gives each one's `Health` (`.kind`, `.since`; `describe(health)` for its words);
  `board.readable`/`board.notice` say
  when runs cannot be read, for one Admin notice instead of marks.
- `health_of_one(client, deployment)`: one deployment, with its failing step's message.
- `explain(health, LastChange(who, verb, when, reason))`: the sentence tying health to a change.
- `run_summary(health)`: a small JSON-safe dict for an audit event's context; `recall(id)` the
  one a page read lately (no request); `summary_lines(summary)` it in words again.
"""

from deployments_ui.flow_health.health import (
    Health,
    Kind,
    RunCounts,
    Window,
    after_change,
    assess,
    window_of,
)
from deployments_ui.flow_health.reading import (
    NOT_READABLE,
    HealthBoard,
    OneDeployment,
    RunsRead,
    board_of,
    health_of_one,
    keep_runs,
    read_board,
    read_runs,
    runs_of_one,
    runs_this_minute,
    with_failure_message,
)
from deployments_ui.flow_health.summary import recall, remember, run_summary, summary_lines
from deployments_ui.flow_health.words import (
    LastChange,
    ago,
    change_verb,
    clock,
    describe,
    explain,
    span,
)

__all__ = [
    "NOT_READABLE",
    "Health",
    "HealthBoard",
    "Kind",
    "LastChange",
    "OneDeployment",
    "RunCounts",
    "RunsRead",
    "Window",
    "after_change",
    "ago",
    "assess",
    "board_of",
    "change_verb",
    "clock",
    "describe",
    "explain",
    "health_of_one",
    "keep_runs",
    "read_board",
    "read_runs",
    "recall",
    "remember",
    "run_summary",
    "runs_of_one",
    "runs_this_minute",
    "span",
    "summary_lines",
    "window_of",
    "with_failure_message",
]
