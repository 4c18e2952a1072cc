"""Scheduled changes: asking, moving, cancelling and applying, with Huey in immediate mode and the
sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.credentials import remove_api_key
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.rules import forget_snapshots
from deployments_ui.core import leases
from deployments_ui.models import AuditEvent, ScheduledChange
from deployments_ui.schedules import applying
from deployments_ui.schedules import services as schedules
from deployments_ui.schedules.tasks import apply_due_changes
from tests.changes.helpers import freeze_now, protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back
from tests.factories import make_user

pytestmark = pytest.mark.django_db
Status = ScheduledChange.Status


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def in_an_hour() -> str:
    """A datetime-local value an hour from now, in Europe/London (the test server's zone)."""
    return timezone.localtime(timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def ask(client, item, **fields):
    data = {"action": "disable", "at": in_an_hour(), "reason": "supplier maintenance", **fields}
    return client.post(deployment_url(item, "schedule/"), data)


def make_due(change: ScheduledChange, seconds_ago: float = 2) -> None:
    ScheduledChange.objects.filter(pk=change.pk).update(
        due_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def sentences(action: str) -> list[str]:
    return [
        audit.describe(event)
        for event in AuditEvent.objects.filter(action=action, completes__isnull=True).order_by("id")
    ]


# Asking


def test_it_schedules_a_disable_without_writing_and_records_the_asking(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    on_sandbox.clear_requests()

    response = ask(signed_in, item)

    assert response.status_code == 302
    change = ScheduledChange.objects.get()
    assert change.status == Status.PENDING
    assert change.action == "disable"
    assert change.deployment_id == str(item["id"])
    assert change.requested_by_name == "Oscar Operator"
    assert change.state_when_asked["enabled"] is True
    assert change.flow_name and change.environment_name == item["virtualEnvironment"]["name"]
    assert api_writes(on_sandbox) == []
    assert read_back(on_sandbox, item)["enabled_at"]
    [sentence] = sentences("schedule")
    assert sentence.startswith("Oscar Operator scheduled a change to ")
    assert ": disable at " in sentence and "reason: supplier maintenance" in sentence


def test_times_are_read_in_the_time_zone_the_browser_sends(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = ask(signed_in, item, at="2031-01-15T09:00", time_zone="America/New_York")
    assert response.status_code == 302
    change = ScheduledChange.objects.get()
    assert change.due_at == datetime(2031, 1, 15, 14, 0, tzinfo=UTC)
    assert change.time_zone == "America/New_York"


def test_times_follow_the_time_zone_cookie_when_no_field_is_sent(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    signed_in.cookies["console_tz"] = "Asia/Tokyo"
    ask(signed_in, item, at="2031-01-15T09:00")
    assert ScheduledChange.objects.get().due_at == datetime(2031, 1, 15, 0, 0, tzinfo=UTC)


def test_a_time_in_the_past_is_refused(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = ask(signed_in, item, at="2020-01-01T09:00")
    assert response.status_code == 400
    assert "already passed" in response.content.decode()
    assert not ScheduledChange.objects.exists()


def test_a_far_future_time_behind_utc_is_a_field_error_not_a_crash(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = ask(signed_in, item, at="9999-12-31T23:59", time_zone="America/Los_Angeles")
    assert response.status_code == 400
    assert "Choose a time before 2100." in response.content.decode()
    assert not ScheduledChange.objects.exists()


def test_off_until_disables_now_and_schedules_the_enable(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    on_sandbox.clear_requests()

    response = ask(signed_in, item, at="", until=in_an_hour())

    assert response.status_code == 302
    assert not read_back(on_sandbox, item)["enabled_at"]
    assert len(api_writes(on_sandbox)) == 1
    [change] = ScheduledChange.objects.all()
    assert (change.action, change.status) == ("enable", Status.PENDING)
    assert AuditEvent.objects.filter(action="disable", outcome="succeeded").count() == 1


def test_the_badge_shows_on_the_detail_page_and_the_list_with_one_upstream_request(
    signed_in, on_sandbox
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item, at="2031-01-15T18:00")

    detail = signed_in.get(deployment_url(item)).content.decode()
    assert "Disables at 15 Jan 18:00 (asked by Oscar Operator)" in detail

    on_sandbox.clear_requests()
    listing = signed_in.get(f"/deployments/?per_page=100&filter=&q={item['name']}")
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "Disables at 15 Jan 18:00 (asked by Oscar Operator)" in html
    reads = [entry for entry in on_sandbox.requests() if entry["path"].endswith("deployments")]
    assert len(reads) == 1


def test_the_badge_costs_one_query_for_a_whole_page(
    signed_in, on_sandbox, django_assert_num_queries
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item, at="2031-01-15T18:00")
    with django_assert_num_queries(1):
        badges = schedules.badges_for([str(n) for n in range(1, 101)] + [str(item["id"])])
    assert list(badges) == [str(item["id"])]


def test_htmx_scheduling_answers_with_the_row_and_its_badge(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = signed_in.post(
        deployment_url(item, "schedule/"),
        {"action": "disable", "at": "2031-01-15T18:00", "fragment": "row"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith(f'<tr id="deployment-row-{item["id"]}"')
    assert "Disables at 15 Jan 18:00" in html


def test_a_viewer_cannot_schedule(client, viewer, on_sandbox):
    client.force_login(viewer)
    item = find_deployment(on_sandbox, enabled=True)
    response = ask(client, item)
    assert response.status_code == 403
    assert not ScheduledChange.objects.exists()
    assert AuditEvent.objects.get().outcome == "refused"


# Moving and cancelling


def test_the_requester_cancels_their_own_change(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()

    response = signed_in.post(f"/schedules/{change.pk}/cancel/", {"next": "/schedules/"})

    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == Status.CANCELLED
    [sentence] = sentences("unschedule")
    assert sentence.startswith("Oscar Operator cancelled a scheduled change to ")


def test_cancel_is_post_only(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    assert signed_in.get(f"/schedules/{change.pk}/cancel/").status_code == 405


def test_another_operator_cannot_cancel_or_move_it_but_an_editor_can(
    client, signed_in, on_sandbox, editor
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    other = make_user("olga", "Operator", full_name="Olga Other", api_key="sandbox-key-operator")
    client.force_login(other)
    client.post(f"/schedules/{change.pk}/cancel/")
    client.post(f"/schedules/{change.pk}/move/", {"at": "2031-02-01T10:00"})
    change.refresh_from_db()
    assert change.status == Status.PENDING
    assert change.due_at.year != 2031

    client.force_login(editor)
    response = client.post(f"/schedules/{change.pk}/move/", {"at": "2031-02-01T10:00"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.due_at == datetime(2031, 2, 1, 10, 0, tzinfo=UTC)
    [sentence] = sentences("reschedule")
    assert sentence.startswith("Edie Editor moved a scheduled change to ")
    assert "disable moved from " in sentence and " to 1 Feb 2031, 10:00 GMT" in sentence


def test_cancelling_an_off_until_disable_cancels_its_re_enable(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    later = timezone.localtime(timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    ask(signed_in, item, until=later)
    disable = ScheduledChange.objects.get(action="disable")
    signed_in.post(f"/schedules/{disable.pk}/cancel/")
    assert set(ScheduledChange.objects.values_list("status", flat=True)) == {Status.CANCELLED}


def test_the_schedules_page_lists_upcoming_and_recent(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item, at="2031-01-15T18:00")
    html = signed_in.get("/schedules/").content.decode()
    assert "15 Jan 2031, 18:00 GMT" in html
    assert "Oscar Operator" in html and "Yes, cancel this change" in html


# Applying


def test_a_due_change_is_applied_once_with_the_requesters_key(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    make_due(change, seconds_ago=4)
    on_sandbox.clear_requests()

    assert apply_due_changes().get() == 1
    assert apply_due_changes().get() == 0

    change.refresh_from_db()
    assert change.status == Status.APPLIED
    assert change.lateness_seconds >= 4
    assert not read_back(on_sandbox, item)["enabled_at"]
    writes = api_writes(on_sandbox)
    assert len(writes) == 1 and writes[0]["user"] == "Oscar Operator"
    [sentence] = sentences("disable")
    assert sentence.startswith("The schedule of Oscar Operator disabled ")
    assert "reason: supplier maintenance — succeeded — scheduled for " in sentence
    assert "applied 4 s late" in sentence or "applied 5 s late" in sentence


def test_a_change_that_fell_due_while_no_worker_ran_is_applied_and_marked_late(
    signed_in, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    make_due(change, seconds_ago=600)
    monkeypatch.setattr(leases, "_consumer_started", [timezone.now()])  # a worker started now
    apply_due_changes()
    change.refresh_from_db()
    assert change.status == Status.APPLIED
    assert "10 min late (no worker was running at its time)" in change.result_message


def test_a_change_late_behind_a_busy_worker_says_so_not_that_none_ran(
    signed_in, on_sandbox, monkeypatch
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    make_due(change, seconds_ago=199)
    started = timezone.now() - timedelta(hours=1)  # the worker ran all along
    monkeypatch.setattr(leases, "_consumer_started", [started])
    apply_due_changes()
    change.refresh_from_db()
    assert change.status == Status.APPLIED
    assert "3 min late (the worker was running but busy at its time)" in change.result_message
    assert "no worker" not in change.result_message


def test_already_in_the_wanted_state_is_skipped_without_a_write(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item, action="enable")
    change = ScheduledChange.objects.get()
    make_due(change)
    on_sandbox.clear_requests()

    apply_due_changes()

    change.refresh_from_db()
    assert change.status == Status.SKIPPED
    assert change.result_message.startswith("Skipped: already enabled by ")
    assert api_writes(on_sandbox) == []


def test_a_requester_without_a_key_fails_with_the_reason(signed_in, on_sandbox, operator):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    remove_api_key(operator)
    make_due(change)
    on_sandbox.clear_requests()

    apply_due_changes()

    change.refresh_from_db()
    assert change.status == Status.FAILED
    assert (
        change.result_message == "Oscar Operator: You have not saved your Patchworks API key yet."
    )
    assert api_writes(on_sandbox) == []


def test_a_refused_key_fails_with_the_reason(signed_in, on_sandbox, operator):
    from deployments_ui.accounts.credentials import store_api_key

    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    store_api_key(operator, "revoked-key-1234")
    make_due(change)
    apply_due_changes()
    change.refresh_from_db()
    assert change.status == Status.FAILED
    assert "refused" in change.result_message.lower() or "rejected" in change.result_message


def test_a_claimed_change_is_not_applied_again(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    make_due(change)
    ScheduledChange.objects.filter(pk=change.pk).update(
        status=Status.APPLYING, attempt_started_at=timezone.now()
    )
    on_sandbox.clear_requests()
    assert applying.apply_change(change.pk) is None
    assert apply_due_changes().get() == 0
    assert on_sandbox.requests() == []


@pytest.mark.parametrize(("went_through", "minutes_late"), [(True, 0), (False, 0), (False, 30)])
def test_an_interrupted_attempt_is_settled_by_reading_never_by_writing_twice(
    signed_in, on_sandbox, went_through, minutes_late
):
    """Made: settled as applied, nothing sent. Not made and still within its window: tried
    again (read first, one write). Not made and too late: failed, nothing sent."""
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    if went_through:
        on_sandbox.api(
            "POST",
            f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/disable",
        )
    started = timezone.now() - applying.interrupted_after() - timedelta(seconds=1)
    ScheduledChange.objects.filter(pk=change.pk).update(
        status=Status.APPLYING,
        attempt_started_at=started,
        due_at=started - timedelta(minutes=minutes_late),
    )
    on_sandbox.clear_requests()

    apply_due_changes()

    change.refresh_from_db()
    writes = [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)]
    if went_through:
        assert (change.status, writes) == (Status.APPLIED, [])
        assert "found disabled, so nothing was sent again" in change.result_message
    elif minutes_late:
        assert (change.status, writes) == (Status.FAILED, [])
        assert "still enabled" in change.result_message
        assert "Nothing was sent again" in change.result_message
    else:
        assert (change.status, writes) == (Status.APPLIED, ["disable"])
        assert not read_back(on_sandbox, item)["enabled_at"]


def test_a_requester_who_lost_the_role_fails_and_the_refusal_is_audited(
    signed_in, on_sandbox, operator
):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    operator.groups.clear()
    make_due(change)
    on_sandbox.clear_requests()
    apply_due_changes()
    change.refresh_from_db()
    assert change.status == Status.FAILED
    assert change.result_message == "Oscar Operator may no longer enable or disable deployments."
    assert on_sandbox.requests() == []
    refusal = AuditEvent.objects.get(action="disable")
    assert refusal.outcome == "refused"
    assert audit.describe(refusal).startswith("The schedule of Oscar Operator tried to")


def test_a_recent_attempt_is_left_alone(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    ScheduledChange.objects.filter(pk=change.pk).update(
        status=Status.APPLYING, attempt_started_at=timezone.now(), due_at=timezone.now()
    )
    on_sandbox.clear_requests()
    apply_due_changes()
    change.refresh_from_db()
    assert change.status == Status.APPLYING
    assert on_sandbox.requests() == []


# Housekeeping and periodic claims


def test_housekeeping_deletes_only_old_finished_changes(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    for _ in range(3):
        ask(signed_in, item)
    old_done, old_pending, new_done = ScheduledChange.objects.order_by("id")
    long_ago = timezone.now() - timedelta(days=400)
    ScheduledChange.objects.filter(pk__in=[old_done.pk, old_pending.pk]).update(due_at=long_ago)
    ScheduledChange.objects.filter(pk__in=[old_done.pk, new_done.pk]).update(
        status=Status.CANCELLED
    )
    assert applying.delete_finished(older_than_days=90) == 1
    assert set(ScheduledChange.objects.values_list("pk", flat=True)) == {
        old_pending.pk,
        new_done.pk,
    }


def test_a_periodic_run_is_claimed_once_per_period():
    now = timezone.now()
    assert leases.claim_run("periodic:test", 60, now=now)
    assert not leases.claim_run("periodic:test", 60, now=now + timedelta(seconds=1))
    assert not leases.claim_run("periodic:test", 60, now=now + timedelta(seconds=29))
    assert leases.claim_run("periodic:test", 60, now=now + timedelta(seconds=60))


# With change control


def test_a_change_due_inside_a_freeze_window_waits_and_says_so(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    window = freeze_now("all")
    make_due(change)
    on_sandbox.clear_requests()

    assert apply_due_changes().get() == 0

    change.refresh_from_db()
    assert change.status == Status.PENDING
    assert change.result_message.startswith("Waiting: a freeze window is in force until ")
    assert api_writes(on_sandbox) == []
    assert "Waiting: a freeze window" in signed_in.get("/schedules/").content.decode()

    window.delete()
    forget_snapshots()
    assert apply_due_changes().get() == 1
    change.refresh_from_db()
    assert change.status == Status.APPLIED


def test_a_change_that_needs_approval_becomes_a_change_request(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    ask(signed_in, item)
    change = ScheduledChange.objects.get()
    protect("live")
    make_due(change)
    on_sandbox.clear_requests()

    apply_due_changes()

    change.refresh_from_db()
    assert change.status == Status.SKIPPED
    assert "approv" in change.result_message
    assert api_writes(on_sandbox) == []
    assert ChangeRequest.objects.filter(deployment_id=str(item["id"])).exists()
