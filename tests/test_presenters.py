"""What a list row shows, worked out once for the page and the enable/disable fragment alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployments_ui.patchworks.types import parse_deployment
from deployments_ui.presenters import deployment_row

# Rows ask change control (a small table) what their confirmation needs.
pytestmark = pytest.mark.django_db

ENABLED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_a_live_enabled_row_carries_its_names_links_and_state():
    row = deployment_row(
        parse_deployment(
            {
                "id": 41,
                "name": "Orders",
                "flow_version_id": 7,
                "virtual_environment_id": 3,
                "priority": 2,
                "enabled_at": ENABLED_AT.isoformat(),
                "flowVersion": {"id": 7, "flow_id": 2, "iteration": 3},
                "virtualEnvironment": {"id": 3, "name": "UK Live", "type": "live"},
                "package": {"id": 1, "name": "Retail"},
                "enabledBy": {"id": 9, "name": "Edie Editor"},
            }
        )
    )
    assert row["action"] == "disable"
    assert row["question"] == (
        "Disable Orders v3 in UK Live? It will stop running, and real data will stop flowing."
    )
    assert row["detail_url"] == "/flow-versions/7/deployments/41/"
    assert row["toggle_url"] == "/flow-versions/7/deployments/41/disable/"
    assert row["flow_version_url"] == "/flow-versions/7/deployments/"
    assert (row["environment_name"], row["environment_type"], row["live"]) == (
        "UK Live",
        "live",
        True,
    )
    assert (row["package_name"], row["priority"], row["enabled_by"]) == ("Retail", 2, "Edie Editor")
    assert row["enabled"] is True
    assert 'datetime="2026-11-27T09:30:00+00:00"' in row["enabled_at"]


def test_a_bare_disabled_row_falls_back_to_plain_words():
    row = deployment_row(parse_deployment({"id": "5", "flow_version_id": "12"}))
    assert row["action"] == "enable"
    assert row["question"] == (
        "Enable Flow version 12 in No environment (global)? It will start running on its schedule."
    )
    assert row["version"] == row["package_name"] == row["enabled_by"] == ""
    assert row["enabled"] is False and row["live"] is False
    assert row["enabled_at"] == "—"
    assert row["toggle_url"].endswith("/12/deployments/5/enable/")
