"""The audit log page, its CSV export, and the deployment History partial."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.models import AuditEvent
from deployments_ui.views.audit import escape_cells
from tests.factories import (
    DISABLED,
    ENABLED,
    TARGET,
    actor_for,
    console_disable,
)

SENTENCE = (
    "Ann Smith tried to disable Orders → Shopify version 3 in UK Live (live) — "
    "reason: supplier outage — failed: Patchworks did not answer"
)
BILLING = DeploymentRef(
    deployment_id="202",
    flow_version_id="21",
    flow_id="2",
    flow_name="Billing sync",
    environment_id="5",
    environment_name="EU Test",
    environment_type="test",
)


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


@pytest.fixture
def events(ann):
    """A failed disable, a refusal, an unfinished attempt and an external enable."""
    console_disable(actor_for(ann), outcome="failed", message="Patchworks did not answer")
    audit.record_refusal(
        actor=actor_for(ann),
        action="enable",
        target=BILLING,
        message="Already enabled by Dana Dashboard. Nothing was changed.",
        reason='=HYPERLINK("http://evil.example","click")',
    )
    audit.record_attempt(actor=actor_for(ann), action="delete", target=BILLING, before=ENABLED)
    audit.record_external(
        action="enable",
        target=TARGET,
        before=DISABLED,
        after=ENABLED,
        actor_name="Dana Dashboard",
    )


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# The sentences


def test_the_example_sentence(ann):
    console_disable(actor_for(ann), outcome="failed", message="Patchworks did not answer")
    [entry] = audit.deployment_history("101")
    assert entry.sentence == SENTENCE
    assert audit.describe(entry) == SENTENCE
    assert entry.deployment_label == "Orders → Shopify version 3 (UK Live, live)"


@pytest.mark.parametrize(
    ("outcome", "message", "ending"),
    [
        ("succeeded", "", "— succeeded"),
        ("unknown", "Patchworks did not answer in time.", "— outcome unknown: Patchworks did not"),
        (None, "", "— no outcome recorded (the console stopped before Patchworks answered)"),
    ],
)
def test_each_outcome_reads_plainly(ann, outcome, message, ending):
    console_disable(actor_for(ann), outcome=outcome, message=message)
    [entry] = audit.deployment_history("101")
    assert ending in entry.sentence


def test_a_failure_without_message_names_the_status(ann):
    console_disable(actor_for(ann), outcome="failed", status=503)
    assert audit.deployment_history("101")[0].sentence.endswith("failed (Patchworks answered 503)")


def test_a_refusal_reads_as_an_attempt(ann):
    audit.record_refusal(
        actor=actor_for(ann),
        action="disable",
        target=TARGET,
        message="Already disabled by Dana Dashboard.",
    )
    assert audit.deployment_history("101")[0].sentence == (
        "Ann Smith tried to disable Orders → Shopify in UK Live (live) — "
        "refused: already disabled by Dana Dashboard"
    )


def test_external_changes_name_who_patchworks_says(db):
    audit.record_external(
        action="enable", target=TARGET, before=DISABLED, after=ENABLED, actor_name="Dana Dashboard"
    )
    audit.record_external(
        action="disable", target=TARGET, before=ENABLED, after=DISABLED, actor_name=""
    )
    unknown, dana = audit.deployment_history("101")
    assert dana.sentence == (
        "Dana Dashboard enabled Orders → Shopify version 3 in UK Live (live) — "
        "in Patchworks, outside the console"
    )
    assert unknown.sentence.startswith("Someone in Patchworks (unknown) disabled Orders")


def test_a_change_lists_what_moved(ann):
    attempt = audit.record_attempt(
        actor=actor_for(ann),
        action="update",
        target=TARGET,
        before=ENABLED,
        after={**ENABLED, "priority": 1},
    )
    audit.record_outcome(attempt, outcome="succeeded")
    [entry] = audit.deployment_history("101")
    assert "changed Orders → Shopify version 3 in UK Live (live): priority 3 → 1 — succeeded" in (
        entry.sentence
    )
    assert ("Priority", "3", "1") in entry.changes


def test_a_global_deployment_says_so(ann):
    target = DeploymentRef(deployment_id="9", flow_name="Stock", environment_name="")
    state = {**ENABLED, "virtual_environment_id": None, "environment_name": None}
    audit.record_refusal(
        actor=actor_for(ann), action="enable", target=target, message="x", before=state
    )
    [entry] = audit.deployment_history("9")
    assert "Stock version 3 in all environments" in entry.sentence
    assert entry.deployment_label == "Stock version 3 (global deployment)"


def test_history_is_newest_first_and_merges_outcomes(ann):
    first = console_disable(actor_for(ann), outcome="succeeded")
    second = console_disable(actor_for(ann), outcome="failed")
    history = audit.deployment_history("101")
    assert [entry.id for entry in history] == [second.pk, first.pk]
    assert history[0].event_ids == (second.pk, second.pk + 1)
    assert audit.deployment_history("101", limit=1)[0].id == second.pk


# The audit log page


def test_it_shows_every_event_as_a_sentence(viewer_client, events):
    response = viewer_client.get("/audit/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Audit log</h1>" in body
    assert SENTENCE in body
    assert "Dana Dashboard enabled Orders → Shopify version 3 in UK Live (live)" in body
    assert "no outcome recorded" in body
    assert body.count('<details class="audit-details">') == 4
    assert "Showing <strong>1–4</strong> of <strong>4</strong> events" in body


def test_details_show_every_field_in_words(admin_client, events):
    body = admin_client.get("/audit/?deployment=101&source=console").content.decode()

    for text in [
        "Single sign-on name</dt><dd>ann@example.com",
        "Signed in with</dt><dd>single sign-on",
        "IP address</dt><dd>203.0.113.9",
        "Browser (user agent)</dt><dd>Mozilla/5.0 (test)",
        '<th scope="row">State</th><td>enabled</td><td><strong>disabled</strong></td>',
    ]:
        assert text in body
    table = body[body.index('<section id="audit-table"') :]
    assert "&quot;enabled&quot;" not in table and "{&quot;" not in table
    # Ids and references are shown, labelled, on an event's own page only.
    assert "req-0001" not in table and "Deployment id" not in table


def test_times_are_machine_readable_with_the_exact_time_on_hover(viewer_client, events):
    body = viewer_client.get("/audit/").content.decode()
    assert '<time datetime="20' in body and 'title="' in body


def test_newest_first(viewer_client, ann):
    old = audit.record_external(
        action="enable",
        target=TARGET,
        before=DISABLED,
        after=ENABLED,
        actor_name="Early Bird",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    new = console_disable(actor_for(ann))
    entries = viewer_client.get("/audit/").context["entries"]
    assert [entry.id for entry in entries] == [new.pk, old.pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("person=ann", 3),
        ("person=ann%40example", 3),
        ("person=dana", 1),
        ("action=enable", 2),
        ("action=delete", 1),
        ("outcome=failed", 1),
        ("outcome=refused", 1),
        ("outcome=pending", 1),
        ("outcome=succeeded", 1),
        ("source=patchworks", 1),
        ("source=console", 3),
        ("deployment=101", 2),
        ("deployment=202", 2),
        ("flow=billing", 2),
        ("environment=uk+live", 2),
        ("environment=EU", 2),
        ("action=enable&environment=EU", 1),
        ("date_from=2000-01-01", 4),
        ("date_to=2000-01-01", 0),
    ],
)
def test_filters(viewer_client, events, query, expected):
    response = viewer_client.get(f"/audit/?{query}")
    assert response.context["page"].paginator.count == expected


def test_a_day_filter_covers_the_whole_local_day(viewer_client, ann):
    event = console_disable(actor_for(ann))
    day = timezone.localdate(event.occurred_at).isoformat()
    response = viewer_client.get(f"/audit/?date_from={day}&date_to={day}")
    assert response.context["page"].paginator.count == 1


def test_a_bad_filter_is_left_out_and_said(viewer_client, events):
    response = viewer_client.get("/audit/?date_from=yesterday&action=enable")
    assert response.context["page"].paginator.count == 2
    assert "were not understood and were left out: From" in response.content.decode()


def test_the_filters_are_a_get_form_with_labels(viewer_client, events):
    body = viewer_client.get("/audit/").content.decode()
    assert 'method="get"' in body
    for name in ["person", "action", "outcome", "deployment", "flow", "environment", "date_from"]:
        assert f'<label for="id_{name}">' in body
    assert 'hx-push-url="true"' in body


def test_it_paginates_25_to_a_page(viewer_client, ann):
    for _ in range(30):
        audit.record_refusal(actor=actor_for(ann), action="enable", target=TARGET, message="no")

    first = viewer_client.get("/audit/")
    second = viewer_client.get("/audit/?page=2")
    beyond = viewer_client.get("/audit/?page=99")

    assert len(first.context["entries"]) == 25
    assert len(second.context["entries"]) == 5
    assert beyond.context["page"].number == 2
    assert 'href="?page=2"' in first.content.decode()


def test_page_links_keep_the_filters(viewer_client, ann):
    for _ in range(30):
        audit.record_refusal(actor=actor_for(ann), action="enable", target=TARGET, message="no")
    body = viewer_client.get("/audit/?action=enable").content.decode()
    assert 'href="?action=enable&amp;page=2"' in body
    assert 'href="/audit/export.csv?action=enable"' in body


def test_htmx_gets_only_the_table(viewer_client, events):
    response = viewer_client.get("/audit/?action=enable", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="audit-table"')
    assert "<html" not in body and "<form" not in body
    assert "Dana Dashboard enabled" in body
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("htmx", [False, True])
def test_an_unreadable_audit_log_says_so_in_the_table(viewer_client, events, monkeypatch, htmx):
    from django.db import DatabaseError

    from deployments_ui.views import audit as audit_views

    def unreadable(filters, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(audit_views, "filtered_events", unreadable)
    headers = {"HX-Request": "true"} if htmx else {}
    response = viewer_client.get("/audit/", headers=headers)
    body = response.content.decode()
    assert response.status_code == 503
    assert "The audit log cannot be read just now" in body
    assert "connection lost" not in body
    # console.js swaps an error answer in only when it is marked as a fragment of the page.
    assert response.has_header("X-Console-Fragment") is htmx
    assert body.lstrip().startswith('<section id="audit-table"') is htmx


def test_a_history_restore_gets_the_whole_page(viewer_client, events):
    response = viewer_client.get(
        "/audit/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


def test_it_rejects_post(viewer, events):
    client = Client()
    client.force_login(viewer)
    assert client.post("/audit/").status_code == 405
    assert client.post("/audit/export.csv").status_code == 405


def test_it_requires_a_role(no_role_user):
    client = Client()
    client.force_login(no_role_user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


def test_it_requires_sign_in(db):
    assert Client().get("/audit/").status_code == 302
    assert Client().get("/audit/export.csv").status_code == 302


def test_no_page_edits_or_deletes_events():
    for name in ["audit-edit", "audit-delete", "audit-event-delete", "audit-event-edit"]:
        with pytest.raises(NoReverseMatch):
            reverse(name)
    from django.contrib import admin

    assert AuditEvent not in admin.site._registry


# CSV


def test_export_streams_one_row_per_event(admin_client, events):
    response = admin_client.get("/audit/export.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-log-20')
    assert disposition.endswith('.csv"')
    header, *rows = rows_of(response)
    assert header[:4] == ["Event id", "When (UTC)", "Where", "Person"]
    assert len(rows) == 4
    failed = next(row for row in rows if row[header.index("In words")] == SENTENCE)
    assert failed[header.index("Outcome")] == "failed: Patchworks did not answer"
    assert failed[header.index("IP address")] == "203.0.113.9"
    assert "State: enabled" in failed[header.index("Before")]
    assert "State: disabled" in failed[header.index("After")]


def test_export_follows_the_filter(viewer_client, events):
    response = viewer_client.get("/audit/export.csv?source=patchworks")
    header, *rows = rows_of(response)
    assert [row[header.index("Person")] for row in rows] == ["Dana Dashboard"]


def test_export_escapes_formulas(viewer_client, events):
    header, *rows = rows_of(viewer_client.get("/audit/export.csv?outcome=refused"))
    [row] = rows
    assert row[header.index("Reason")] == '\'=HYPERLINK("http://evil.example","click")'


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (503, "503"),
    ],
)
def test_escape_cells(cell, escaped):
    assert escape_cells([cell]) == [escaped]


def test_an_empty_export_has_the_header(viewer_client):
    header, *rows = rows_of(viewer_client.get("/audit/export.csv"))
    assert header[0] == "Event id" and rows == []


# The History partial


def test_the_history_partial(ann):
    console_disable(actor_for(ann), outcome="failed", message="Patchworks did not answer")
    html = render_to_string(
        "deployments_ui/_history.html", {"history": audit.deployment_history("101")}
    )
    assert '<h2 id="history-heading">History</h2>' in html
    assert SENTENCE in html and "<details" in html


def test_an_empty_history_says_so(db):
    html = render_to_string("deployments_ui/_history.html", {"history": []})
    assert "Nothing recorded yet" in html


def test_one_recorded_state_is_shown_with_what_it_was(viewer_client, ann):
    audit.record_refusal(
        actor=actor_for(ann), action="disable", target=TARGET, message="no", before=DISABLED
    )
    body = viewer_client.get("/audit/").content.decode()
    assert '<caption class="table-caption">Values at the time</caption>' in body
    assert '<th scope="row">State</th><td>disabled</td>' in body
    assert "Before</th>" not in body


# The export is bounded, one at a time per person


def test_the_export_holds_at_most_the_cap_and_says_so(viewer_client, ann, settings):
    settings.CONSOLE_AUDIT_EXPORT_MAX_ROWS = 3
    for _ in range(5):
        console_disable(actor_for(ann), outcome=None)

    header, *rows = rows_of(viewer_client.get("/audit/export.csv"))

    assert len(rows) == 4
    assert [row[0] for row in rows[:3]] == sorted((row[0] for row in rows[:3]), reverse=True)
    assert rows[3][0] == ""
    assert "Only the newest 3 matching events" in rows[3][header.index("In words")]


def test_the_page_says_how_many_events_an_export_holds(viewer_client, events, settings):
    settings.CONSOLE_AUDIT_EXPORT_MAX_ROWS = 50_000
    assert "at most 50,000 events" in viewer_client.get("/audit/").content.decode()


def test_one_export_at_a_time_per_person(viewer_client, admin_client, events):
    first = viewer_client.get("/audit/export.csv")
    first_rows = iter(first.streaming_content)
    next(first_rows)  # the download has started and is still running

    second = viewer_client.get("/audit/export.csv")
    assert second.status_code == 429
    assert "Your export is still running" in second.content.decode()
    # Someone else may export meanwhile.
    assert admin_client.get("/audit/export.csv").status_code == 200

    list(first_rows)  # finished: the test client closes it as a server would
    assert viewer_client.get("/audit/export.csv").status_code == 200


def close_midway(response) -> None:
    """Close a response as the server does when the browser goes away, keeping the test's
    database connection (and its transaction) open, as the test client itself does."""
    with mock.patch.object(connection, "close_if_unusable_or_obsolete"):
        response.close()


def test_a_cut_download_releases_the_lock(viewer_client, events):
    first = viewer_client.get("/audit/export.csv")
    next(iter(first.streaming_content))
    close_midway(first)  # the browser went away
    assert viewer_client.get("/audit/export.csv").status_code == 200


# Addresses, browsers and account events are for Admins


def test_viewers_see_no_addresses_or_browsers(viewer_client, events):
    body = viewer_client.get("/audit/?deployment=101&source=console").content.decode()
    assert "Single sign-on name</dt><dd>ann@example.com" in body
    assert "203.0.113.9" not in body and "Mozilla/5.0 (test)" not in body

    header, *rows = rows_of(viewer_client.get("/audit/export.csv"))
    assert "IP address" not in header and "User agent" not in header
    assert not any("203.0.113.9" in cell for row in rows for cell in row)


def test_account_events_are_for_admins_only(viewer_client, admin_client, events, ann):
    audit.record_account(
        actor=actor_for(ann),
        action="roles_changed",
        account="bob",
        before={"roles": ["Viewer"]},
        after={"roles": ["Admin"]},
    )
    sentence = "Ann Smith changed the roles of bob from Viewer to Admin"

    assert sentence not in viewer_client.get("/audit/").content.decode()
    assert sentence in admin_client.get("/audit/").content.decode()
    header, *rows = rows_of(admin_client.get("/audit/export.csv"))
    assert sentence in [row[header.index("In words")] for row in rows]
    header, *rows = rows_of(viewer_client.get("/audit/export.csv"))
    assert sentence not in [row[header.index("In words")] for row in rows]


def test_an_account_event_in_words_names_no_deployment(admin_client, ann):
    audit.record_account(actor=actor_for(ann), action="api_key_removed", account="ann")
    body = admin_client.get("/audit/").content.decode()
    assert "Ann Smith removed their Patchworks API key" in body
    assert "Deployment</dt>" not in body
