"""Drift detection against the live sandbox: changes made outside the console are recorded once."""

from __future__ import annotations

import io
import math
import threading

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.core import leases
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.drift import sync as drift
from deployments_ui.models import AuditEvent, DeploymentSnapshot, SyncLease
from deployments_ui.patchworks import PatchworksClient
from tests.factories import actor_for

SERVICE_KEY = "sandbox-key-service"
DASHBOARD_KEY = "sandbox-key-dashboard"
OPERATOR_KEY = "sandbox-key-operator"
EMPTY_ENVIRONMENT_ID = "11"  # "Disaster Recovery": in the demo data, no deployments yet

pytestmark = pytest.mark.django_db


@pytest.fixture
def patchworks(on_sandbox, settings):
    """The sandbox, with the console's service key pointing at it and no pacing."""
    settings.CONSOLE_SERVICE_API_KEY = SERVICE_KEY
    settings.CONSOLE_SYNC_MIN_INTERVAL = 0
    return on_sandbox


def sync() -> drift.SyncResult:
    return drift.sync_deployments(min_interval=0)


def all_deployments() -> list:
    client = PatchworksClient(SERVICE_KEY)
    items, page = [], 1
    while True:
        listed = client.list_deployments(page=page, per_page=100, include=drift.INCLUDES)
        items += listed.items
        if page >= listed.last_page:
            return items
        page += 1


def one(enabled: bool):
    return next(d for d in all_deployments() if d.is_enabled == enabled and d.virtual_environment)


def path(deployment, suffix: str = "") -> str:
    return f"/api/v1/flow-versions/{deployment.flow_version_id}/deployments/{deployment.id}{suffix}"


def outside(sandbox, method: str, url: str, key: str = DASHBOARD_KEY, **kwargs) -> dict:
    response = sandbox.api(method, url, key=key, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def undeployed_version(sandbox) -> str:
    """A version of the demo's one flow that has no deployments at all."""
    flows = outside(sandbox, "GET", "/api/v1/flows?filter[name]=Nightly")["data"]
    versions = outside(sandbox, "GET", f"/api/v1/flows/{flows[0]['id']}/versions")["data"]
    return str(versions[0]["id"])


def external_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(source="patchworks").order_by("id"))


# The first run


def test_the_first_run_takes_a_baseline_only(patchworks):
    result = sync()

    total = len(all_deployments())
    assert result.baseline and not result.skipped
    assert result.changes == 0
    assert AuditEvent.objects.count() == 0
    assert DeploymentSnapshot.objects.count() == result.seen == total
    assert total > 300


def test_an_account_empty_at_first_has_its_first_deployment_recorded_as_created(db, settings):
    settings.PATCHWORKS_BASE_URL = "https://patchworks.test"
    settings.CONSOLE_SERVICE_API_KEY = "service-key"
    listing = "https://patchworks.test/api/v1/flow-version-deployments"
    created = {
        "id": 42,
        "flow_version_id": 11,
        "virtual_environment_id": 3,
        "name": "Orders to ERP",
        "enabled_at": timezone.now().isoformat(),
        "created_at": timezone.now().isoformat(),
        "virtualEnvironment": {"id": 3, "name": "Production EU", "type": "live"},
        "enabledBy": {"id": 5, "name": "Dana Dashboard"},
        "user": {"id": 5, "name": "Dana Dashboard"},
    }

    def envelope(items):
        meta = {"current_page": 1, "last_page": 1, "per_page": 100, "total": len(items)}
        return {"data": items, "links": {}, "meta": meta}

    with responses.RequestsMock() as mock:
        mock.get(listing, json=envelope([]))
        first = sync()
        mock.replace(responses.GET, listing, json=envelope([created]))
        second = sync()

    assert first.baseline and not second.baseline
    actions = [(event.action, event.deployment_id, event.actor_name) for event in external_events()]
    assert actions == [("create", "42", "Dana Dashboard"), ("enable", "42", "Dana Dashboard")]


def test_it_stays_within_one_request_per_100_deployments(patchworks):
    patchworks.clear_requests()
    result = sync()

    requests = patchworks.requests()
    pages = math.ceil(result.seen / 100)
    assert result.pages == result.requests == len(requests) == pages
    assert all("per_page=100" in entry["query"] for entry in requests)
    assert {entry["user"] for entry in requests} == {"Console Service"}


def test_nothing_changed_records_nothing(patchworks):
    sync()
    result = sync()
    assert not result.baseline and result.changes == 0
    assert AuditEvent.objects.count() == 0


def test_it_paces_its_requests(patchworks):
    result = drift.sync_deployments(min_interval=0.2)
    assert result.seconds >= 0.2 * (result.requests - 1)


# Changes made in Patchworks


def test_an_enable_in_patchworks_names_who_enabled_it(patchworks):
    deployment = one(enabled=False)
    sync()
    outside(patchworks, "POST", path(deployment, "/enable"))

    result = sync()

    assert result.changes == 1
    [event] = external_events()
    assert (event.action, event.actor_name, event.deployment_id) == (
        "enable",
        "Dana Dashboard",
        deployment.id,
    )
    assert event.before["enabled"] is False and event.after["enabled"] is True
    sentence = audit.deployment_history(deployment.id)[0].sentence
    assert sentence.startswith(f"Dana Dashboard enabled {deployment.flow_name}")
    assert "in Patchworks, outside the console" in sentence
    assert audit.verify_chain().ok


def test_a_disable_in_patchworks_is_by_someone_unknown(patchworks):
    deployment = one(enabled=True)
    sync()
    outside(patchworks, "POST", path(deployment, "/disable"))

    sync()

    [event] = external_events()
    assert (event.action, event.actor_name) == ("disable", "")
    entry = audit.deployment_history(deployment.id)[0]
    assert entry.sentence.startswith("Someone in Patchworks (unknown) disabled")


def test_a_re_enable_between_runs_is_seen(patchworks):
    deployment = one(enabled=True)
    sync()
    outside(patchworks, "POST", path(deployment, "/disable"))
    outside(patchworks, "POST", path(deployment, "/enable"))

    sync()

    [event] = external_events()
    assert (event.action, event.actor_name) == ("enable", "Dana Dashboard")


def test_a_priority_change_is_recorded(patchworks):
    deployment = one(enabled=True)
    new_priority = 1 if deployment.priority != 1 else 5
    sync()
    outside(patchworks, "PUT", path(deployment), json={"priority": new_priority})

    sync()

    [event] = external_events()
    assert event.action == "update" and event.actor_name == ""
    assert event.after["priority"] == new_priority
    assert event.before["priority"] == deployment.priority
    assert (
        f"→ {new_priority} — in Patchworks" in audit.deployment_history(deployment.id)[0].sentence
    )


def test_an_environment_change_is_recorded(patchworks):
    deployment = one(enabled=False)
    sync()
    outside(
        patchworks, "PUT", path(deployment), json={"virtual_environment_id": EMPTY_ENVIRONMENT_ID}
    )

    sync()

    [event] = external_events()
    assert event.action == "update"
    assert event.before["virtual_environment_id"] == deployment.virtual_environment_id
    assert event.after["virtual_environment_id"] == EMPTY_ENVIRONMENT_ID
    assert event.environment_name == "Disaster Recovery"


def test_a_delete_in_patchworks_is_recorded_with_what_it_was(patchworks):
    deployment = one(enabled=True)
    sync()
    outside(patchworks, "DELETE", path(deployment))
    patchworks.clear_requests()

    result = sync()

    [event] = external_events()
    assert (event.action, event.deployment_id, event.flow_name) == (
        "delete",
        deployment.id,
        deployment.flow_name,
    )
    assert event.before["enabled"] is True and event.after is None
    assert not DeploymentSnapshot.objects.filter(deployment_id=deployment.id).exists()
    assert result.requests == len(patchworks.requests()) == result.pages


def test_a_create_in_patchworks_is_recorded(patchworks):
    environment = next(d for d in all_deployments() if d.virtual_environment_id)
    sync()
    version_id = undeployed_version(patchworks)
    created = outside(
        patchworks,
        "POST",
        f"/api/v1/flow-versions/{version_id}/deployments",
        json={
            "flow_version_id": version_id,
            "virtual_environment_id": environment.virtual_environment_id,
        },
    )

    sync()

    actions = [(event.action, event.actor_name) for event in external_events()]
    assert actions == [("create", "Dana Dashboard"), ("enable", "Dana Dashboard")]
    assert external_events()[0].deployment_id == str(created["data"]["id"])


# Changes made through the console are not recorded twice


def console_write(ann, action: str, deployment, after: dict, outcome: str = "succeeded"):
    """Record a write the way the services do: the attempt, then its outcome."""
    before = audit.deployment_state(deployment)
    attempt = audit.record_attempt(
        actor=actor_for(ann),
        action=action,
        target=DeploymentRef.of(deployment),
        before=before,
        after={**before, **after},
    )
    return attempt


def test_a_console_disable_is_not_recorded_again(patchworks, ann):
    deployment = one(enabled=True)
    sync()
    attempt = console_write(ann, "disable", deployment, {"enabled": False})
    result = outside(patchworks, "POST", path(deployment, "/disable"), key=OPERATOR_KEY)
    audit.record_outcome(attempt, outcome="succeeded", after={**attempt.after, **result["data"]})

    assert sync().changes == 0
    assert external_events() == []


def test_a_console_enable_with_unknown_outcome_is_not_recorded_again(patchworks, ann):
    deployment = one(enabled=False)
    sync()
    attempt = console_write(ann, "enable", deployment, {"enabled": True})
    outside(patchworks, "POST", path(deployment, "/enable"), key=OPERATOR_KEY)
    audit.record_outcome(attempt, outcome="unknown", message="Patchworks did not answer in time")

    assert sync().changes == 0


def test_a_console_write_still_without_an_outcome_explains_the_change(patchworks, ann):
    """Its worker stopped, or it waited long for the budget: whatever its age, an attempt with
    no outcome yet may have been made, so the change is not blamed on someone outside."""
    deployment = one(enabled=True)
    console_write(ann, "disable", deployment, {"enabled": False})  # before the last run
    sync()
    outside(patchworks, "POST", path(deployment, "/disable"), key=OPERATOR_KEY)

    assert sync().changes == 0
    assert external_events() == []


def test_a_console_enable_then_an_outside_re_enable_is_recorded(patchworks, ann):
    deployment = one(enabled=False)
    sync()
    attempt = console_write(ann, "enable", deployment, {"enabled": True})
    client = PatchworksClient(OPERATOR_KEY)
    enabled = client.enable_deployment(deployment.flow_version_id, deployment.id)
    audit.record_outcome(attempt, outcome="succeeded", after=audit.deployment_state(enabled))
    outside(patchworks, "POST", path(deployment, "/disable"))
    outside(patchworks, "POST", path(deployment, "/enable"))

    sync()

    [event] = external_events()
    assert (event.action, event.actor_name) == ("enable", "Dana Dashboard")


def test_a_failed_console_write_does_not_explain_a_change(patchworks, ann):
    deployment = one(enabled=True)
    sync()
    attempt = console_write(ann, "disable", deployment, {"enabled": False})
    audit.record_outcome(attempt, outcome="failed", upstream_status=503)
    outside(patchworks, "POST", path(deployment, "/disable"))

    sync()

    assert [event.action for event in external_events()] == ["disable"]


def test_console_priority_and_delete_are_not_recorded_again(patchworks, ann):
    first, second = [d for d in all_deployments() if d.virtual_environment][:2]
    sync()
    update = console_write(ann, "update", first, {"priority": 2 if first.priority != 2 else 4})
    outside(
        patchworks,
        "PUT",
        path(first),
        key=OPERATOR_KEY,
        json={"priority": update.after["priority"]},
    )
    audit.record_outcome(update, outcome="succeeded")
    delete = console_write(ann, "delete", second, {})
    outside(patchworks, "DELETE", path(second), key=OPERATOR_KEY)
    audit.record_outcome(delete, outcome="succeeded")

    assert sync().changes == 0


def test_a_console_create_is_not_recorded_again(patchworks, ann):
    environment = next(d for d in all_deployments() if d.virtual_environment_id)
    sync()
    version_id = undeployed_version(patchworks)
    target = DeploymentRef(
        flow_version_id=version_id, environment_id=environment.virtual_environment_id
    )
    attempt = audit.record_attempt(actor=actor_for(ann), action="create", target=target)
    created = PatchworksClient(OPERATOR_KEY).create_deployment(
        version_id,
        virtual_environment_id=environment.virtual_environment_id,
        priority=None,
        deploy_disabled=False,
    )
    audit.record_outcome(attempt, outcome="succeeded", after=audit.deployment_state(created))

    assert sync().changes == 0


# One instance at a time


def test_a_held_lease_makes_other_instances_stand_aside(patchworks):
    assert leases.acquire(drift.LEASE_NAME, "someone-else", 60)
    patchworks.clear_requests()
    out = io.StringIO()

    call_command("sync_deployments", stdout=out)

    assert "another instance is syncing" in out.getvalue()
    assert patchworks.requests() == []
    assert DeploymentSnapshot.objects.count() == 0


def test_an_expired_lease_is_taken_over(patchworks):
    assert leases.acquire(drift.LEASE_NAME, "crashed", 60)
    SyncLease.objects.update(expires_at=timezone.now() - timezone.timedelta(seconds=1))

    assert sync().baseline
    lease = SyncLease.objects.get()
    assert lease.holder == "" and lease.expires_at <= timezone.now()


def test_the_lease_is_exclusive_until_released(db):
    assert leases.acquire("job", "a", 60)
    assert not leases.acquire("job", "b", 60)
    assert leases.acquire("job", "a", 60)  # renewing our own
    assert leases.renew("job", "a", 60) and not leases.renew("job", "b", 60)
    assert leases.acquire("other job", "b", 60)
    leases.release("job", "a")
    assert leases.acquire("job", "b", 60)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_do_the_work_once(patchworks):
    results: list = []
    errors: list = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            results.append(drift.sync_deployments(min_interval=0.05))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(result.skipped for result in results) == [False, True]
    assert DeploymentSnapshot.objects.count() == next(r.seen for r in results if not r.skipped)


# Failing plainly


def test_without_a_service_key_it_says_what_to_do(db, settings):
    settings.CONSOLE_SERVICE_API_KEY = ""
    with pytest.raises(CommandError, match="set CONSOLE_SERVICE_API_KEY"):
        call_command("sync_deployments")


def test_an_upstream_failure_records_nothing_and_keeps_the_snapshot(patchworks):
    deployment = one(enabled=False)
    sync()
    outside(patchworks, "POST", path(deployment, "/enable"))
    patchworks.set_faults(error_status=500, methods=["GET"])

    with pytest.raises(CommandError, match="Patchworks could not list the deployments"):
        call_command("sync_deployments")

    assert external_events() == []
    snapshot = DeploymentSnapshot.objects.get(deployment_id=deployment.id)
    assert snapshot.state["values"]["enabled"] is False
    assert SyncLease.objects.get().holder == ""

    patchworks.clear_faults()
    assert sync().changes == 1


def test_the_command_prints_a_summary(patchworks):
    out = io.StringIO()
    call_command("sync_deployments", "--min-interval", "0", stdout=out)
    text = out.getvalue()
    assert "pages fetched" in text and "baseline taken" in text and " s." in text


def test_an_unsteady_listing_confirms_each_deletion_before_recording_it(patchworks):
    first, second = [d for d in all_deployments() if d.virtual_environment][:2]
    sync()
    outside(patchworks, "DELETE", path(second))
    rows = list(DeploymentSnapshot.objects.filter(deployment_id__in=[first.id, second.id]))
    patchworks.clear_requests()

    deleted, kept = drift._confirm_deletions(
        PatchworksClient(SERVICE_KEY), drift._Pacer(0), rows, complete=False
    )

    assert [row.deployment_id for row in deleted] == [second.id]
    assert [row.deployment_id for row in kept] == [first.id]
    assert len(patchworks.requests()) == 2
