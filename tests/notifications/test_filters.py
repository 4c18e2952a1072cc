"""Which events pass a subscription's or webhook's filters."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deployments_ui.models import AuditEvent
from deployments_ui.notifications import events


def rule(**values):
    defaults = {
        "kinds": [],
        "environment_types": [],
        "environment_ids": [],
        "actions": [],
        "flow_name_contains": "",
        "only_problems": False,
    }
    return SimpleNamespace(**{**defaults, **values})


def event(**values):
    defaults = {
        "source": AuditEvent.Source.CONSOLE,
        "action": "disable",
        "outcome": "succeeded",
        "environment_type": "live",
        "environment_id": "2",
        "flow_name": "Orders → Shopify",
    }
    return AuditEvent(**{**defaults, **values})


def test_an_empty_filter_lets_every_change_through():
    assert events.matches(rule(), event(), events.KIND_CHANGE)
    assert events.matches(rule(), event(source="patchworks"), events.KIND_DRIFT)


def test_requests_for_me_only_when_asked_for():
    assert not events.matches(rule(), event(), events.KIND_REQUEST_FOR_ME)
    assert events.matches(
        rule(kinds=[events.KIND_REQUEST_FOR_ME]), event(), events.KIND_REQUEST_FOR_ME
    )


@pytest.mark.parametrize(
    ("filters", "passes", "fails"),
    [
        ({"environment_types": ["live"]}, {}, {"environment_type": "test"}),
        ({"environment_ids": ["2", "5"]}, {}, {"environment_id": "3"}),
        ({"actions": ["disable"]}, {}, {"action": "enable"}),
        ({"flow_name_contains": "SHOP"}, {}, {"flow_name": "Stock levels"}),
        ({"only_problems": True}, {"outcome": "failed"}, {"outcome": "succeeded"}),
        ({"only_problems": True}, {"outcome": "unknown"}, {"outcome": "succeeded"}),
    ],
)
def test_each_filter_passes_and_blocks(filters, passes, fails):
    assert events.matches(rule(**filters), event(**passes), events.KIND_CHANGE)
    assert not events.matches(rule(**filters), event(**fails), events.KIND_CHANGE)


def test_only_changes_outside_the_console():
    outside = rule(kinds=[events.KIND_DRIFT])
    assert events.matches(outside, event(source="patchworks"), events.KIND_DRIFT)
    assert not events.matches(outside, event(), events.KIND_CHANGE)


def test_attempts_and_refusals_are_not_told():
    assert events.kind_of(event(outcome="pending")) is None
    assert events.kind_of(event(outcome="refused")) is None
    assert events.kind_of(event(outcome="failed")) == events.KIND_CHANGE
    assert events.kind_of(event(source="patchworks")) == events.KIND_DRIFT


def test_the_summary_reads_plainly():
    text = events.filters_summary(
        rule(kinds=["drift"], environment_types=["live"], actions=["disable"], only_problems=True)
    )
    assert text == (
        "Changes made outside the console · live environments · disabled · "
        "only failures and unknown outcomes"
    )
    assert events.filters_summary(rule()) == "Every change"
