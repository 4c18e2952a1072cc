"""Runs and deployments for the flow-health tests, at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from deployments_ui.flow_health import Window
from deployments_ui.patchworks import FlowRun
from tests.factories import deployment

NOW = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")  # UTC in December
WINDOW = Window(start=NOW - timedelta(hours=24), complete=True, now=NOW)


def at(hh_mm: str) -> datetime:
    hours, minutes = hh_mm.split(":")
    return NOW.replace(hour=int(hours), minute=int(minutes))


def run(
    started: str,
    status: str = "succeeded",
    *,
    ident: str | None = None,
    version: str = "11",
    environment: str | None = "3",
    names_environment: bool = False,
) -> FlowRun:
    start = at(started)
    return FlowRun(
        id=ident or f"{version}-{environment}-{started}",
        status=status,
        started_at=start,
        finished_at=None if status == "running" else start + timedelta(minutes=1),
        flow_id="4",
        flow_version_id=version,
        virtual_environment_id=environment if names_environment else None,
        names_environment=names_environment,
    )


def enabled(**overrides):
    values = {"id": 42, "flow_version_id": 11, "enabled_at": "2026-12-01T09:00:00Z"}
    return deployment(**{**values, **overrides})


def disabled(**overrides):
    return enabled(enabled_at=None, enabled_by=None, enabledBy=None, **overrides)
