"""What a list row shows, worked out once for the page and the enable/disable fragment alike."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from deployments_ui.patchworks.types import parse_deployment
from deployments_ui.presenters import console_enabler, deployment_row, toggle_question
from tests.factories import deployment

# Rows ask change control (a small table) what their confirmation needs.
pytestmark = pytest.mark.django_db

ENABLED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_a_live_enabled_row_carries_its_names_links_and_state():
    row = deployment_row(
        deployment(
            id=41,
            name="Orders",
            flow_version_id=7,
            flow_version_iteration=3,
            enabled_at=ENABLED_AT.isoformat(),
            flowVersion={"id": 7, "flow_id": 2, "iteration": 3},
            virtualEnvironment={"id": 3, "name": "UK Live", "type": "live"},
            package={"id": 1, "name": "Retail"},
            enabledBy={"id": 9, "name": "Edie Editor"},
        )
    )
    assert row["action"] == "disable"
    assert row["question"] == (
        "Disable Orders version 3 in UK Live? It will stop running, "
        "and real data will stop flowing."
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
        "Enable Unnamed flow in all environments? It will start running on its schedule."
    )
    # Never an empty cell where a name belongs: it says what is not known.
    assert row["flow_name"] == "Unnamed flow"
    assert row["version"] == "number not available"
    assert row["package_name"] == row["enabled_by"] == ""
    assert row["enabled"] is False and row["live"] is False
    assert row["enabled_at"] == "—"
    assert row["toggle_url"].endswith("/12/deployments/5/enable/")


def test_a_row_without_its_flow_name_says_which_flow():
    row = deployment_row(
        parse_deployment({"id": "5", "flow_version": {"id": "12", "flow_id": "3"}, "iteration": 2})
    )
    assert row["flow_name"] == "Unnamed flow"
    assert row["version"] == "version 2"


def test_an_environment_of_unknown_type_is_warned_about_as_if_live():
    deployment = parse_deployment(
        {"id": "5", "flow_version_id": "12", "virtual_environment_id": "3", "name": "Orders"}
    )
    question = toggle_question(deployment, enable=True)
    assert "with real data" in question
    assert "did not say whether this environment is live" in question


ENABLED = parse_deployment(
    {"id": "5", "flow_version_id": "12", "enabled_at": ENABLED_AT.isoformat(), "name": "Orders"}
)


def entry(action, outcome="succeeded", actor="Edie Editor", external=False, values=()):
    return SimpleNamespace(
        action=action, outcome=outcome, actor=actor, is_external=external, values=list(values)
    )


def test_the_console_names_who_enabled_it_through_the_console():
    history = [entry("update"), entry("enable"), entry("disable", actor="Oscar")]
    assert console_enabler(ENABLED, history) == "Edie Editor"


def test_an_enabled_create_counts_and_a_disabled_one_does_not():
    assert console_enabler(ENABLED, [entry("create", values=[("State", "enabled")])])
    assert not console_enabler(ENABLED, [entry("create", values=[("State", "disabled")])])


def test_the_console_does_not_claim_what_it_did_not_do():
    external_since = [entry("enable", actor="unknown", external=True), entry("enable")]
    assert console_enabler(ENABLED, external_since) == ""
    assert console_enabler(ENABLED, [entry("enable", outcome="failed")]) == ""
    assert console_enabler(ENABLED, [entry("enable", outcome="unknown")]) == ""
    assert console_enabler(ENABLED, []) == ""
    disabled = parse_deployment({"id": "5", "flow_version_id": "12"})
    assert console_enabler(disabled, [entry("enable")]) == ""
