"""The formatting helpers every row uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments_ui.formats import (
    deployment_url,
    flow_version_url,
    relative_time,
    toggle_url,
    when,
)
from deployments_ui.patchworks import Deployment

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(hours=3, minutes=2), "3 hours, 2 minutes ago"),
        (timedelta(days=1, hours=2), "1 day, 2 hours ago"),
        (timedelta(days=2, minutes=5), "2 days ago"),
        (timedelta(days=400), "1 year, 1 month ago"),
        (timedelta(days=-2), "in 2 days"),
    ],
)
def test_relative_time_reads_like_a_person_would_say_it(ago, words):
    assert relative_time(NOW - ago, NOW) == words


def test_when_shows_the_exact_time_on_hover_and_a_dash_when_empty():
    html = when(NOW)
    assert html.startswith('<time datetime="2026-11-28T12:00:00+00:00" title="28 Nov 2026, 12:00 ')
    assert when(None) == "—"


def deployment(enabled: bool) -> Deployment:
    from deployments_ui.patchworks.types import parse_deployment

    return parse_deployment(
        {"id": "5", "flow_version_id": "a b", "enabled_at": NOW.isoformat() if enabled else None}
    )


def test_urls_are_built_from_the_named_patterns_with_quoted_ids():
    assert deployment_url(deployment(True), "deployment-edit") == (
        "/flow-versions/a%20b/deployments/5/edit/"
    )
    assert toggle_url(deployment(True)).endswith("/5/disable/")
    assert toggle_url(deployment(False)).endswith("/5/enable/")
    assert flow_version_url(deployment(True)) == "/flow-versions/a%20b/deployments/"
    with pytest.raises(ValueError):
        deployment_url(deployment(True), "audit-log")


@pytest.mark.parametrize(
    "priority,words",
    [(None, "the flow's own"), (1, "1 — highest"), (2, "2 — high"), (4, "4 — low")],
)
def test_every_priority_has_the_words_the_forms_offer(priority, words):
    from deployments_ui.formats import priority_words
    from deployments_ui.forms.deployments import PRIORITY_CHOICES

    assert priority_words(priority) == words
    if priority is not None:
        assert (str(priority), words) in PRIORITY_CHOICES
