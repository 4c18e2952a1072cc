"""Inside the budget: each token has its own rate limit, and a script's Patchworks requests come
after people's and share their reads."""

from __future__ import annotations

import pytest
import redis

from deployments_ui.patchworks import budget, shared
from deployments_ui.tokens import limits
from tests.api.helpers import Api, path_of, token_for
from tests.deployments import find_deployment

pytestmark = pytest.mark.django_db
REDIS_DB = 13
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
LIST = "/api/v1/flow-version-deployments"


def test_each_token_is_limited_on_its_own(client, operator, settings, on_sandbox, monkeypatch):
    settings.CONSOLE_API_TOKEN_REQUESTS_PER_MINUTE = 2
    monkeypatch.setattr(limits, "clock", lambda: 6000.5)  # all in one minute
    busy = Api(client, token_for(operator, name="runaway"))
    calm = Api(client, token_for(operator, name="calm"))
    assert [busy.get("/audit").status_code for _ in range(2)] == [200, 200]
    refused = busy.get("/audit")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "too many requests" in refused.json()["message"]
    assert calm.get("/audit").status_code == 200


def test_the_limit_counts_a_window_of_a_minute(operator):
    from deployments_ui.models import ApiToken

    token_for(operator)
    token = ApiToken.objects.get()
    minute = 60 * 1000
    assert limits.seconds_to_wait(token, now=minute + 1) == 0
    for _ in range(59):
        limits.seconds_to_wait(token, now=minute + 2)
    assert limits.seconds_to_wait(token, now=minute + 50) == 10
    assert limits.seconds_to_wait(token, now=minute + 60) == 0  # the next minute


@pytest.fixture
def in_redis(settings):
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    settings.CACHES = {
        "default": {
            "BACKEND": "deployments_ui.patchworks.redis_health.ResilientRedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    yield client
    client.flushdb()


def test_with_redis_the_count_is_shared_by_every_process(in_redis, operator):
    from deployments_ui.models import ApiToken

    token_for(operator)
    token = ApiToken.objects.get()
    limits.seconds_to_wait(token, now=120.0)
    keys = [key.decode() for key in in_redis.keys(f"*{limits.PREFIX}:{token.pk}:2")]
    assert len(keys) == 1 and int(in_redis.get(keys[0])) == 1


# The company's budget


def test_a_scripts_requests_are_behind_people_and_keep_their_place_in_a_change(
    client, operator, on_sandbox, monkeypatch
):
    seen: list[str] = []
    original = budget.take

    def take(name: str, priority: str | None = None) -> float:
        seen.append(priority or budget.current_priority())
        return original(name, priority)

    monkeypatch.setattr(budget, "take", take)
    api = Api(client, token_for(operator))
    item = find_deployment(on_sandbox, enabled=True, live=False)
    assert api.post(path_of(item, "/disable"), {"reason": "r"}).status_code == 200
    assert seen and set(seen) == {budget.SCRIPT}


def test_scripts_leave_people_the_same_reserve_as_background_work(settings):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 240
    shape = budget.Shape.from_settings()
    assert shape.tolerance(budget.SCRIPT) == shape.tolerance(budget.BACKGROUND)
    assert shape.tolerance(budget.SCRIPT) < shape.tolerance(budget.INTERACTIVE)
    with budget.script(), budget.for_change():
        assert budget.current_priority() == budget.SCRIPT


def test_a_script_waits_only_as_long_as_a_page_then_is_told_to_come_back(settings, monkeypatch):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 240
    monkeypatch.setattr(budget, "_try_take", lambda *args: 30.0)
    with budget.script(), pytest.raises(budget.BudgetExhausted):
        budget.take("key")


def test_when_the_budget_is_spent_the_script_is_told_to_come_back(
    client, operator, settings, monkeypatch, on_sandbox
):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 240
    monkeypatch.setattr(budget, "_try_take", lambda *args: 30.0)
    response = Api(client, token_for(operator)).get("/deployments")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1 and response.json()["message"]


def test_a_scripts_read_shares_the_peoples_answer(client, operator, settings, on_sandbox):
    settings.CONSOLE_SHARED_READ_SECONDS = 5
    shared.reset()
    try:
        client.force_login(operator)
        assert client.get("/deployments/").status_code == 200
        api = Api(client, token_for(operator))
        on_sandbox.clear_requests()
        assert api.get("/deployments").status_code == 200
        reads = [r for r in on_sandbox.requests() if r["method"] == "GET" and r["path"] == LIST]
        assert reads == []
    finally:
        shared.reset()


def test_a_cache_that_does_not_answer_lets_the_request_through(operator, monkeypatch):
    from deployments_ui.models import ApiToken

    token_for(operator)
    token = ApiToken.objects.get()

    def broken(*args, **kwargs):
        raise ConnectionError("no cache")

    monkeypatch.setattr(limits.cache, "incr", broken)
    assert limits.seconds_to_wait(token) == 0
