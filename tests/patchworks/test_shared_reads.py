"""Shared reads: identical reads made once and shared (in one process, and across processes
through Redis), dropped by every write and outside change, served with their age when the
budget is spent, never given to a key Patchworks does not accept. Upstream requests are counted
by the sandbox's own request log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from deployments_ui.drift import sync as drift
from deployments_ui.patchworks import (
    PatchworksClient,
    RateLimited,
    Unauthorized,
    budget,
    forget_shared_reads,
    shared,
    types,
)
from deployments_ui.patchworks.budget import CHANGE

REPO = Path(__file__).resolve().parents[2]
REDIS_DB = 13
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
KEY = "sandbox-key-operator"
OTHER_KEY = "sandbox-key-viewer"
LIST = "/api/v1/flow-version-deployments"

pytestmark = pytest.mark.django_db


@pytest.fixture
def sharing(settings):
    settings.CONSOLE_SHARED_READ_SECONDS = 5
    shared.reset()
    budget.reset()
    yield
    shared.reset()
    budget.reset()


@pytest.fixture
def in_redis(settings):
    """The cache (and so shared reads and the budget) in Redis database 13, as REDIS_URL sets it."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings.CACHES = {
        "default": {
            "BACKEND": "deployments_ui.patchworks.redis_health.ResilientRedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    yield
    redis.Redis.from_url(REDIS_URL).flushdb()


def list_reads(sandbox) -> list[dict]:
    return [r for r in sandbox.requests() if r["method"] == "GET" and r["path"] == LIST]


def read_in_threads(client: PatchworksClient, count: int) -> list:
    pages: list = []
    start = threading.Barrier(count)

    def read() -> None:
        start.wait()
        pages.append(client.list_deployments(per_page=5))

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pages


def test_concurrent_identical_reads_are_made_once(sharing, on_sandbox):
    client = PatchworksClient(KEY)
    client.list_deployments(per_page=1)  # Patchworks accepts this key
    on_sandbox.set_faults(latency_ms=300, methods=["GET"])
    on_sandbox.clear_requests()

    pages = read_in_threads(client, 8)

    assert len(list_reads(on_sandbox)) == 1
    assert len({page.fetched_at for page in pages}) == 1
    assert all(page.items == pages[0].items for page in pages)


def test_without_sharing_each_read_goes_upstream(settings, on_sandbox):
    settings.CONSOLE_SHARED_READ_SECONDS = 0
    client = PatchworksClient(KEY)

    read_in_threads(client, 4)

    assert len(list_reads(on_sandbox)) == 4


def test_the_answer_serves_others_for_a_few_seconds(sharing, on_sandbox):
    PatchworksClient(OTHER_KEY).list_deployments(per_page=1)  # both keys accepted
    PatchworksClient(KEY).list_deployments(per_page=5)
    on_sandbox.clear_requests()

    again = PatchworksClient(OTHER_KEY).list_deployments(per_page=5)

    assert list_reads(on_sandbox) == []
    assert again.items


# Across processes --------------------------------------------------------------------------

_READER = """
import json, os, sys, threading, time
import django
django.setup()
from deployments_ui.patchworks import PatchworksClient
start_at = float(sys.argv[1])
client = PatchworksClient(os.environ["READ_KEY"])
results = []
def read():
    time.sleep(max(0.0, start_at - time.time()))
    results.append(client.list_deployments(per_page=5).fetched_at)
threads = [threading.Thread(target=read) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(results))
"""


def test_two_processes_share_one_read_through_redis(sharing, in_redis, on_sandbox):
    client = PatchworksClient(KEY)
    client.list_deployments(per_page=1)  # the key is known to work, in Redis
    forget_shared_reads()
    on_sandbox.set_faults(latency_ms=500, methods=["GET"])
    on_sandbox.clear_requests()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "REDIS_URL": REDIS_URL,
        "PATCHWORKS_BASE_URL": on_sandbox.url,
        "CONSOLE_SHARED_READ_SECONDS": "5",
        "READ_KEY": KEY,
        "PYTHONPATH": str(REPO),
    }
    start_at = str(time.time() + 3.0)  # both processes started and ready by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _READER, start_at],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]

    for process, (_, errors) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, errors[-2000:]
    fetched = [moment for out, _ in outputs for moment in json.loads(out.strip().splitlines()[-1])]
    assert len(fetched) == 6
    assert len(list_reads(on_sandbox)) == 1
    assert len(set(fetched)) == 1


# Changes drop what was shared ----------------------------------------------------------------


def first_disabled(client: PatchworksClient):
    page = client.list_deployments(per_page=100)
    return next(d for d in page.items if not d.is_enabled)


def state_of(client: PatchworksClient, deployment_id: str) -> bool:
    page = client.list_deployments(per_page=100)
    return next(d for d in page.items if d.id == deployment_id).is_enabled


def test_a_console_write_drops_the_shared_reads(sharing, on_sandbox):
    client = PatchworksClient(KEY)
    deployment = first_disabled(client)
    outside = on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{deployment.flow_version_id}/deployments/{deployment.id}/enable",
        key=OTHER_KEY,
    )
    assert outside.status_code == 200
    # Shared: a change nobody told the console about is not seen within the few seconds...
    assert state_of(client, deployment.id) is False

    client.disable_deployment(deployment.flow_version_id, deployment.id)
    client.enable_deployment(deployment.flow_version_id, deployment.id)

    # ...but after its own write the console reads again.
    assert state_of(client, deployment.id) is True


def test_a_change_drift_records_drops_the_shared_reads(sharing, on_sandbox, settings):
    settings.CONSOLE_SERVICE_API_KEY = "sandbox-key-service"
    client = PatchworksClient(KEY)
    drift.sync_deployments(min_interval=0)  # the baseline
    deployment = first_disabled(client)
    outside = on_sandbox.api(
        "POST",
        f"/api/v1/flow-versions/{deployment.flow_version_id}/deployments/{deployment.id}/enable",
        key="sandbox-key-dashboard",
    )
    assert outside.status_code == 200
    assert state_of(client, deployment.id) is False  # still the shared answer

    with budget.background():  # as the worker runs it
        result = drift.sync_deployments(min_interval=0)

    assert result.changes == 1
    assert state_of(client, deployment.id) is True


def test_the_read_that_guards_a_change_is_never_a_shared_one(sharing, on_sandbox):
    client = PatchworksClient(KEY)
    deployment = first_disabled(client)
    client.get_deployment(deployment.flow_version_id, deployment.id)
    on_sandbox.clear_requests()

    client.get_deployment(deployment.flow_version_id, deployment.id)
    assert on_sandbox.requests() == []
    client.get_deployment(deployment.flow_version_id, deployment.id, for_change=True)
    assert len(on_sandbox.requests()) == 1


# The budget spent ------------------------------------------------------------------------------


def spend_the_budget() -> None:
    """Take every request the budget has right now (a change may take them all)."""
    while budget._try_take(budget.Shape.from_settings(), CHANGE, "spender", time.time()) == 0:
        pass


@pytest.fixture
def small_budget(settings, monkeypatch):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 40
    settings.PATCHWORKS_BUDGET_WINDOW_SECONDS = 60
    monkeypatch.setattr(budget, "INTERACTIVE_MAX_WAIT", 0.0)
    budget.reset()
    yield
    budget.reset()


def test_when_the_budget_is_spent_a_page_is_the_last_good_read_with_its_age(
    sharing, small_budget, settings, on_sandbox
):
    settings.CONSOLE_SHARED_READ_SECONDS = 0.2
    client = PatchworksClient(KEY)
    first = client.list_deployments(per_page=5)
    spend_the_budget()
    time.sleep(0.3)  # no longer fresh: it would be read again if the budget allowed
    on_sandbox.clear_requests()

    page = client.list_deployments(per_page=5)

    assert on_sandbox.requests() == []
    assert page.fetched_at == first.fetched_at
    assert page.items == first.items


def test_when_the_budget_is_spent_and_nothing_was_read_it_says_busy(
    sharing, small_budget, on_sandbox
):
    client = PatchworksClient(KEY)
    client.list_flows(per_page=1)
    spend_the_budget()

    with pytest.raises(RateLimited) as raised:
        client.list_deployments(per_page=7)
    assert "Patchworks is busy" in raised.value.message


def test_the_list_page_says_how_old_a_fallback_is(
    sharing, settings, on_sandbox, client, operator, monkeypatch
):
    settings.CONSOLE_SHARED_READ_SECONDS = 0.2
    monkeypatch.setattr(types, "DATED_SECONDS", 1)
    monkeypatch.setattr(budget, "INTERACTIVE_MAX_WAIT", 0.0)
    client.force_login(operator)
    fresh = client.get("/deployments/")  # (pickers and all, before the budget is on)
    assert fresh.status_code == 200
    assert "as of" not in fresh.content.decode()
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 40
    spend_the_budget()
    time.sleep(1.1)

    dated = client.get("/deployments/")

    assert dated.status_code == 200
    text = dated.content.decode()
    assert "Patchworks is busy" not in text
    assert re.search(r"\(as of \d+ seconds? ago\)", text)


# Keys that do not work -------------------------------------------------------------------------


def test_a_key_patchworks_refuses_never_gets_a_shared_read(sharing, on_sandbox):
    PatchworksClient(KEY).list_deployments(per_page=5)

    with pytest.raises(Unauthorized):
        PatchworksClient("sandbox-key-nobody-has").list_deployments(per_page=5)


def test_a_key_refused_once_reads_for_itself_from_then_on(sharing, on_sandbox):
    PatchworksClient(OTHER_KEY).list_deployments(per_page=5)
    client = PatchworksClient(KEY)
    client.list_flows(per_page=1)  # accepted
    on_sandbox.set_faults(error_status=401, count=1)
    with pytest.raises(Unauthorized):
        client.list_flows(per_page=2)
    on_sandbox.clear_requests()

    client.list_deployments(per_page=5)  # others' answer is fresh, but not for this key

    assert len(list_reads(on_sandbox)) == 1


def test_a_person_without_a_saved_key_sees_no_deployments(
    sharing, on_sandbox, client, operator, keyless_operator
):
    client.force_login(operator)
    seen = client.get("/deployments/")
    name = PatchworksClient(KEY).list_deployments(per_page=5).items[0].flow_name
    assert name in seen.content.decode()
    client.force_login(keyless_operator)

    page = client.get("/deployments/")

    assert name not in page.content.decode()


# Changes keep their reserve --------------------------------------------------------------------


def test_reloading_pages_cannot_spend_what_a_change_needs(small_budget, on_sandbox):
    viewer, editor = PatchworksClient(OTHER_KEY), PatchworksClient(KEY)
    deployment = first_disabled(editor)
    with pytest.raises(RateLimited):
        for page in range(1, 100):
            viewer.list_flows(page=page, per_page=1)

    with pytest.raises(RateLimited):  # pages have spent their share...
        editor.get_deployment(deployment.flow_version_id, deployment.id)
    current = editor.get_deployment(deployment.flow_version_id, deployment.id, for_change=True)
    changed = editor.enable_deployment(current.flow_version_id, current.id)  # ...changes have not

    assert changed.is_enabled


def test_a_viewer_reloading_the_list_cannot_make_an_editors_change_fail(
    small_budget, on_sandbox, client, viewer, operator
):
    from django.test import Client

    from tests.deployments import deployment_url, find_deployment, read_back

    item = find_deployment(on_sandbox, enabled=False)
    client.force_login(viewer)
    for size in (10, 15, 25, 50, 100) * 4:
        if "Patchworks is busy" in client.get(f"/deployments/?per_page={size}").content.decode():
            break
    else:
        pytest.fail("the viewer's reloading never spent the pages' share of the budget")
    editor = Client()
    editor.force_login(operator)

    response = editor.post(deployment_url(item, "enable/"), {"reason": "now"})

    assert response.status_code == 302
    assert read_back(on_sandbox, item)["enabled_at"]


# Keys not known yet (the first minutes after a start) ------------------------------------------


def test_people_reading_the_same_with_a_new_key_at_once_wait_for_one_read(sharing, on_sandbox):
    client = PatchworksClient(KEY)  # Patchworks has not accepted this key in this process yet
    on_sandbox.set_faults(latency_ms=300, methods=["GET"])
    on_sandbox.clear_requests()

    pages = read_in_threads(client, 8)

    assert len(list_reads(on_sandbox)) == 1
    assert len({page.fetched_at for page in pages}) == 1


def test_a_new_key_is_given_no_answer_read_before_it_asked(sharing, on_sandbox):
    PatchworksClient(OTHER_KEY).list_deployments(per_page=5)  # another key's answer, fresh
    client = PatchworksClient(KEY)
    on_sandbox.clear_requests()
    client.list_deployments(per_page=5)  # not another key's: read with this one
    assert len(list_reads(on_sandbox)) == 1
    shared.distrust(budget.key_name(KEY))  # as after a 401
    on_sandbox.clear_requests()

    client.list_deployments(per_page=5)  # not its own answer of a moment ago either

    assert len(list_reads(on_sandbox)) == 1


def test_people_with_a_refused_key_are_each_told(sharing, on_sandbox):
    client = PatchworksClient("sandbox-key-nobody-has")
    failures: list[Exception] = []
    start = threading.Barrier(4)

    def read() -> None:
        start.wait()
        try:
            client.list_deployments(per_page=5)
        except Unauthorized as error:
            failures.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(failures) == 4
