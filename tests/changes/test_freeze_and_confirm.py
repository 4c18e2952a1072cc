"""Freeze windows refuse changes (an Admin may override, recorded); protected environments ask
for their name, and the server checks it."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from deployments_ui.changes.models import ChangeRequest, FreezeWindow
from deployments_ui.changes.rules import freeze_in_force, next_freeze
from deployments_ui.core.identity import EnvironmentRef
from deployments_ui.models import AuditEvent
from tests.changes.helpers import freeze_now, protect
from tests.deployments import api_writes, deployment_url, find_deployment, read_back

LONDON = zoneinfo.ZoneInfo("Europe/London")
LIVE = EnvironmentRef(id="3", name="UK Live", type="live")
TEST = EnvironmentRef(id="4", name="UK Test", type="test")


def weekly(**fields) -> FreezeWindow:
    return FreezeWindow.objects.create(
        kind=FreezeWindow.Kind.WEEKLY,
        start_day=4,
        start_time=time(16, 0),
        end_day=0,
        end_time=time(8, 0),
        time_zone="Europe/London",
        **fields,
    )


# When a window is in force


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("local", "frozen"),
    [
        (datetime(2026, 12, 4, 15, 59), False),  # Friday, just before
        (datetime(2026, 12, 4, 16, 0), True),  # Friday 16:00
        (datetime(2026, 12, 6, 3, 0), True),  # Sunday night
        (datetime(2026, 12, 7, 7, 59), True),  # Monday, just before 08:00
        (datetime(2026, 12, 7, 8, 0), False),  # Monday 08:00
        (datetime(2026, 12, 2, 12, 0), False),  # Wednesday
    ],
)
def test_a_weekly_window_from_friday_to_monday(local, frozen):
    weekly(scope="live")
    at = local.replace(tzinfo=LONDON)
    assert bool(freeze_in_force(LIVE, at)) is frozen
    assert freeze_in_force(TEST, at) is None


@pytest.mark.django_db
def test_a_weekly_window_is_read_in_its_own_time_zone():
    weekly(scope="all")
    # Friday 16:30 in London is 11:30 in New York: frozen; Friday 15:30 in London is not.
    assert freeze_in_force(LIVE, datetime(2026, 12, 4, 16, 30, tzinfo=LONDON))
    assert freeze_in_force(LIVE, datetime(2026, 12, 4, 15, 30, tzinfo=LONDON)) is None
    in_force = freeze_in_force(TEST, datetime(2026, 12, 4, 16, 30, tzinfo=UTC))
    assert in_force.ends_at == datetime(2026, 12, 7, 8, 0, tzinfo=LONDON)


@pytest.mark.django_db
def test_a_one_off_window_covers_only_the_environments_chosen():
    now = timezone.now()
    FreezeWindow.objects.create(
        kind=FreezeWindow.Kind.ONCE,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=5),
        scope=FreezeWindow.Scope.CHOSEN,
        environment_ids=["4"],
    )
    assert freeze_in_force(TEST) and freeze_in_force(LIVE) is None
    assert freeze_in_force(TEST, now + timedelta(minutes=6)) is None


@pytest.mark.django_db
def test_the_next_window_is_the_soonest_to_start():
    weekly(scope="live")
    at = datetime(2026, 12, 2, 12, 0, tzinfo=LONDON)
    upcoming = next_freeze(LIVE, at)
    assert upcoming.starts_at == datetime(2026, 12, 4, 16, 0, tzinfo=LONDON)
    assert next_freeze(TEST, at) is None


# Through the pages


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


@pytest.mark.django_db
def test_a_freeze_refuses_a_change_in_plain_words(signed_in, on_sandbox):
    freeze_now("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)

    detail = signed_in.get(deployment_url(item)).content.decode()
    assert "Freeze in force:" in detail and "CHG-42 release" in detail
    response = signed_in.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1"}, follow=True
    )

    html = response.content.decode()
    assert "are refused: a freeze window is in force until" in html
    assert api_writes(on_sandbox) == []
    refusal = AuditEvent.objects.get()
    assert (refusal.action, refusal.outcome) == ("disable", "refused")


@pytest.mark.django_db
def test_a_frozen_row_asks_on_its_own_page_where_an_admin_can_override(
    client, admin_user, on_sandbox
):
    freeze_now("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(admin_user)
    listing = client.get("/deployments/?per_page=100").content.decode()
    row = listing.split(f'id="deployment-row-{item["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "data-question" not in row  # no dialog: the server's page explains the freeze

    page = client.post(deployment_url(item, "disable/"), {"ask": "1"}).content.decode()
    assert "Reason to override the freeze window" in page

    client.post(
        deployment_url(item, "disable/"),
        {
            "ask": "1",
            "confirmed": "1",
            "reason": "incident 12",
            "freeze_override": "incident 12: stop the leak",
        },
    )

    assert not read_back(on_sandbox, item)["enabled_at"]
    override = AuditEvent.objects.get(action="freeze_override")
    assert override.reason == "incident 12: stop the leak"
    assert "CHG-42 release" in override.message
    assert AuditEvent.objects.filter(action="disable", outcome="succeeded").exists()


@pytest.mark.django_db
def test_only_an_admin_can_override_a_freeze(signed_in, on_sandbox):
    freeze_now("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "freeze_override": "I insist"},
        follow=True,
    )
    assert "Only an Admin can override a freeze window." in response.content.decode()
    assert api_writes(on_sandbox) == []
    assert not AuditEvent.objects.filter(action="freeze_override").exists()


@pytest.mark.django_db
def test_an_approved_request_waits_out_a_freeze(client, operator, editor, on_sandbox):
    protect("live")
    item = find_deployment(on_sandbox, enabled=True, live=True)
    client.force_login(operator)
    client.post(
        deployment_url(item, "disable/"), {"ask": "1", "confirmed": "1", "reason": "outage"}
    )
    change = ChangeRequest.objects.get()
    client.force_login(editor)
    client.post(f"/changes/{change.pk}/approve/")
    freeze_now("live")
    client.force_login(operator)
    response = client.post(f"/changes/{change.pk}/apply/", follow=True)
    assert "a freeze window is in force" in response.content.decode()
    assert api_writes(on_sandbox) == []
    assert ChangeRequest.objects.get().status == "approved"


# Type the environment's name


@pytest.mark.django_db
def test_a_wrong_name_is_refused_by_the_server_with_a_field_error(signed_in, on_sandbox):
    protect("test", approvals=0, confirm_name=True)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    name = item["virtualEnvironment"]["name"]

    asked = signed_in.post(deployment_url(item, "disable/"), {"ask": "1"}).content.decode()
    assert f"To confirm, type its name: <strong>{name}</strong>" in asked

    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "confirm_name": "UK Livee"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_confirm_name_error"' in html and "to confirm." in html
    assert 'aria-invalid="true"' in html
    assert api_writes(on_sandbox) == []
    refusal = AuditEvent.objects.get()
    assert refusal.outcome == "refused" and "name was not typed" in refusal.message


@pytest.mark.django_db
def test_the_dialog_path_without_a_name_is_refused_too(signed_in, on_sandbox):
    protect("test", approvals=0, confirm_name=True)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "fragment": "row"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert api_writes(on_sandbox) == []


@pytest.mark.django_db
def test_the_right_name_in_any_case_lets_it_through(signed_in, on_sandbox):
    protect("test", approvals=0, confirm_name=True)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    name = item["virtualEnvironment"]["name"]
    listing = signed_in.get("/deployments/?per_page=100").content.decode()
    assert f'data-confirm-name="{name}"' in listing
    signed_in.post(
        deployment_url(item, "disable/"),
        {"ask": "1", "confirmed": "1", "confirm_name": f"  {name.upper()} "},
    )
    assert not read_back(on_sandbox, item)["enabled_at"]


@pytest.mark.django_db
def test_delete_asks_for_the_name_and_refuses_a_wrong_one(client, editor, on_sandbox):
    protect("test", approvals=0, confirm_name=True)
    item = find_deployment(on_sandbox, enabled=False, live=False)
    client.force_login(editor)
    assert 'name="confirm_name"' in client.get(deployment_url(item, "delete/")).content.decode()

    response = client.post(deployment_url(item, "delete/"), {"confirm_name": "nope"})

    assert response.status_code == 400
    assert 'id="id_confirm_name_error"' in response.content.decode()
    assert api_writes(on_sandbox) == []
    assert read_back(on_sandbox, item)
