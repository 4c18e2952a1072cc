"""The budget when things go wrong: Redis going away (cut for real by a TCP proxy in front of
it), and the budget running out in the middle of a GET's retry. Pages keep answering, the budget
keeps limiting, background work pauses and resumes by itself. Upstream requests are counted by
the sandbox's own request log."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from deployments_ui.patchworks import (
    PatchworksClient,
    RateLimited,
    budget,
    measure_waits,
    redis_health,
    shared,
)
from deployments_ui.patchworks.budget import BACKGROUND, INTERACTIVE, Shape
from tests.tcp_proxy import RedisProxy

REDIS_DB = 13
KEY = "sandbox-key-operator"

pytestmark = pytest.mark.django_db


@pytest.fixture
def proxy(settings, monkeypatch):
    """The console's cache and budget in Redis database 13, reached through a proxy."""
    monkeypatch.setattr(redis_health, "RETRY_SECONDS", 0.2)
    redis.Redis(db=REDIS_DB).flushdb()
    with RedisProxy() as running:
        settings.CACHES = {
            "default": {
                "BACKEND": "deployments_ui.patchworks.redis_health.ResilientRedisCache",
                "LOCATION": f"{running.url}/{REDIS_DB}",
                "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 2.0},
            }
        }
        # As in production with Redis: every request reads its session through the cache.
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
        budget.reset()
        yield running
        running.restore()
        budget.reset()
        shared.reset()
    redis.Redis(db=REDIS_DB).flushdb()
    redis_health.reset()


@pytest.fixture
def small_budget(settings, monkeypatch):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 20
    settings.PATCHWORKS_BUDGET_WINDOW_SECONDS = 60
    monkeypatch.setattr(budget, "INTERACTIVE_MAX_WAIT", 0.0)


def test_pages_answer_while_redis_is_away(proxy, settings, on_sandbox, client, operator):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 600
    client.force_login(operator)
    assert client.get("/deployments/").status_code == 200
    proxy.cut()

    page = client.get("/deployments/")

    assert page.status_code == 200
    assert budget.degraded()


def test_admins_are_told_while_redis_is_away(proxy, on_sandbox, client, admin_user):
    client.force_login(admin_user)
    assert "shared store" not in client.get("/deployments/").content.decode()
    proxy.cut()

    page = client.get("/deployments/")

    assert "cannot reach its shared store (Redis)" in page.content.decode()


def test_people_without_manage_console_see_no_banner(proxy, on_sandbox, client, operator):
    client.force_login(operator)
    proxy.cut()

    page = client.get("/deployments/")

    assert page.status_code == 200
    assert "shared store" not in page.content.decode()


def test_the_budget_still_limits_while_redis_is_away(proxy, small_budget, on_sandbox):
    client = PatchworksClient(KEY)
    for page in range(1, 3):
        client.list_flows(page=page, per_page=1)  # all a page may take now, spent in Redis
    proxy.cut()
    on_sandbox.clear_requests()

    sent = 0
    with pytest.raises(RateLimited):
        for page in range(1, 100):
            client.list_flows(page=page, per_page=1)
            sent += 1

    assert budget.degraded()
    # Counted in the database from where Redis was: no fresh burst on top of what was spent.
    assert sent == 0
    assert on_sandbox.requests() == []


def test_people_are_served_while_redis_is_away_within_the_budget(proxy, settings, on_sandbox):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 600
    proxy.cut()
    client = PatchworksClient(KEY)

    client.list_flows(per_page=1)  # waits out the cautious start, then goes

    assert len(on_sandbox.requests()) == 1
    assert budget.degraded()


@pytest.mark.django_db(transaction=True)  # the job's thread reads the database's count
def test_background_work_pauses_while_redis_is_away_and_resumes(proxy, settings, on_sandbox):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 600
    proxy.cut()
    budget.take("someone")  # a person's request finds Redis away (and waits its cautious start)
    on_sandbox.clear_requests()
    done, waits = threading.Event(), []

    def job() -> None:
        with budget.background(on_wait=lambda: waits.append(1)), measure_waits() as waited:
            PatchworksClient(KEY).list_flows(per_page=1)
        waits.append(waited.requests)
        done.set()

    threading.Thread(target=job, daemon=True).start()
    assert not done.wait(2.5)  # paused, not failed
    assert waits  # and saying it is alive while it waits
    assert on_sandbox.requests() == []

    proxy.restore()

    assert done.wait(30)
    assert len(on_sandbox.requests()) == 1
    assert not budget.degraded()


def test_redis_answering_again_carries_on_from_the_database_count(proxy, small_budget):
    shape = Shape.from_settings()
    proxy.cut()
    assert budget._try_take(shape, INTERACTIVE, "k", time.time()) > 0  # (a cautious start)
    budget._try_take(shape, BACKGROUND, "k", time.time())
    proxy.restore()
    time.sleep(0.3)

    # The database's bucket was full: Redis, answering again, does not start empty.
    assert budget._try_take(shape, INTERACTIVE, "k", time.time()) > 0
    assert not budget.degraded()


# The budget running out during a GET's retry (issue 27, item 3) ---------------------------------


def test_the_budget_spent_before_a_retry_says_patchworks_is_busy(
    settings, small_budget, on_sandbox
):
    settings.PATCHWORKS_GET_RETRIES = 2
    budget.reset()
    shape = Shape.from_settings()
    # Leave exactly one request a page may make now.
    while budget._try_take(shape, INTERACTIVE, "spender", time.time()) == 0:
        pass
    budget.reset()
    budget._try_take(shape, INTERACTIVE, "spender", time.time())
    on_sandbox.set_faults(error_status=503, methods=["GET"], count=1)

    with pytest.raises(RateLimited) as raised:
        PatchworksClient(KEY).list_flows(per_page=1)

    assert "Patchworks is busy" in raised.value.message
    assert len(on_sandbox.requests()) == 1  # the first try; its retry never went
    budget.reset()


def test_measure_waits_adds_up_the_waits_for_the_budget(settings, on_sandbox):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 600
    settings.PATCHWORKS_BUDGET_WINDOW_SECONDS = 6  # one request each 0.01 s
    budget.reset()
    client = PatchworksClient(KEY)
    with budget.background(), measure_waits() as waited:
        for page in range(1, 30):
            client.list_flows(page=page, per_page=1)

    assert waited.requests == 29
    assert waited.seconds > 0
    budget.reset()


def test_a_wrong_password_while_redis_is_away_is_a_plain_refusal(proxy, client, operator):
    proxy.cut()

    response = client.post("/accounts/login/", {"username": "oscar", "password": "wrong"})

    assert response.status_code == 200
    assert "password" in response.content.decode().lower()
    assert redis_health.degraded()
