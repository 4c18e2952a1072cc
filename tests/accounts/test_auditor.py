"""The Auditor: sees the whole trail (account events, addresses), exports it, changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from deployments_ui import audit
from deployments_ui.accounts import access
from deployments_ui.models import AuditEvent
from deployments_ui.notifications.models import Delivery, Subscription
from tests.factories import actor_for

pytestmark = pytest.mark.django_db
ROLE_SENTENCE = "Ann Smith changed the roles of bob from Viewer to Admin"


def signed_in(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


@pytest.fixture
def role_change(ann):
    return audit.record_account(
        actor=actor_for(ann),
        action="roles_changed",
        account="bob",
        before={"roles": ["Viewer"]},
        after={"roles": ["Admin"]},
    )


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_the_auditor_sees_account_events_and_addresses(auditor, viewer, role_change):
    page = signed_in(auditor).get("/audit/?action=accounts").content.decode()
    assert ROLE_SENTENCE in page
    assert "203.0.113.9" in page
    assert ROLE_SENTENCE not in signed_in(viewer).get("/audit/").content.decode()


def test_the_auditor_opens_an_account_event_a_viewer_may_not(auditor, viewer, role_change):
    assert signed_in(auditor).get(f"/audit/{role_change.pk}/").status_code == 200
    assert signed_in(viewer).get(f"/audit/{role_change.pk}/").status_code == 404


def test_the_auditor_exports_the_whole_trail(auditor, role_change):
    header, *rows = rows_of(signed_in(auditor).get("/audit/export.csv"))
    assert "IP address" in header
    [row] = [row for row in rows if row[header.index("In words")] == ROLE_SENTENCE]
    assert row[header.index("IP address")] == "203.0.113.9"


@pytest.mark.parametrize(
    "url",
    [
        "/flow-versions/11/deployments/101/enable/",
        "/flow-versions/11/deployments/101/disable/",
        "/deployments/bulk/",
    ],
)
def test_the_auditor_changes_nothing(auditor, url):
    response = signed_in(auditor).post(url, {"reason": "audit"})
    assert response.status_code == 403
    refusal = AuditEvent.objects.filter(user=auditor, outcome="refused").first()
    assert refusal is not None


def test_the_auditor_holds_no_permission_to_change_or_manage(auditor):
    for action in access.PERMISSION_FOR_ACTION:
        assert not access.may_act(auditor, action)
    assert not auditor.has_perm("deployments_ui.manage_console")
    assert not auditor.has_perm("deployments_ui.break_glass")
    assert not auditor.is_staff
    assert access.sees_everything(auditor)


def test_auditors_are_told_of_account_events_like_admins(auditor, viewer, admin_user, ann):
    for person in (auditor, viewer, admin_user):
        Subscription.objects.create(user=person, name="Everything")
    event = audit.record_account(actor=actor_for(ann), action="api_key_removed", account="ann")
    told = {d.subscription.user for d in Delivery.objects.filter(event_id=event.pk)}
    assert told == {auditor, admin_user}


def test_demo_setup_makes_the_auditor(settings):
    settings.DEBUG = True
    call_command("demo_setup", stdout=io.StringIO())
    auditor = User.objects.get(username="auditor")
    assert auditor.check_password("demo-password")
    assert [group.name for group in auditor.groups.all()] == ["Auditor"]
    assert access.sees_everything(auditor)
