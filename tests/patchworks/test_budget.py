"""The upstream budget: never more than the configured requests in any window, across threads and
stores (the database, and Redis when configured); people's pages before background work; a 429
pauses requests with that key. Counted by the sandbox's own request log."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from deployments_ui.patchworks import PatchworksClient, RateLimited, budget
from deployments_ui.patchworks.budget import BACKGROUND, INTERACTIVE, Shape
from tests.deployments import sandbox_deployments

REDIS_URL = "redis://127.0.0.1:6379/9"
RATE, WINDOW = 20, 3.0

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["database", "redis"])
def small_budget(request, settings):
    """20 requests per 3-second window, in the database or in Redis."""
    counted_in(request.param, settings, RATE, WINDOW)
    yield request.param
    budget.reset()


def counted_in(where: str, settings, rate: int, window: int) -> None:
    """The budget at `rate` per `window` seconds, counted in the database or in Redis."""
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = rate
    settings.PATCHWORKS_BUDGET_WINDOW_SECONDS = window
    if where == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": "budget-test",
            }
        }
        # (Django's setting_changed signal rebuilds the cache handler from the new CACHES.)
    budget.reset()


def busiest_window(times: list[float], window: float = WINDOW) -> int:
    """The most requests in any window of `window` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def received(sandbox) -> list[float]:
    return [
        datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
        for entry in sandbox.requests()
    ]


def test_the_shape_never_allows_more_than_the_rate_in_a_window(settings):
    settings.PATCHWORKS_REQUESTS_PER_MINUTE = 120
    settings.PATCHWORKS_BUDGET_WINDOW_SECONDS = 60
    shape = Shape.from_settings()
    # A full burst, then one request per interval for the rest of the window.
    assert shape.burst + int(shape.window / shape.interval) <= shape.rate
    assert shape.tolerance(BACKGROUND) < shape.tolerance(INTERACTIVE)


def test_background_waits_while_people_use_the_reserve(small_budget):
    now = time.time()
    key = "some-key"
    # Background work may go while the bucket is full, then only at the steady rate.
    assert budget._try_take(Shape.from_settings(), BACKGROUND, key, now) == 0
    assert budget._try_take(Shape.from_settings(), BACKGROUND, key, now) > 0
    # People still have the reserve at that same moment...
    assert budget._try_take(Shape.from_settings(), INTERACTIVE, key, now) == 0
    # ...and once they have used it, they wait too.
    assert budget._try_take(Shape.from_settings(), INTERACTIVE, key, now) > 0


def test_a_person_is_told_patchworks_is_busy_rather_than_kept_waiting(
    small_budget, settings, on_sandbox, monkeypatch
):
    monkeypatch.setattr(budget, "INTERACTIVE_MAX_WAIT", 0.0)
    client = PatchworksClient("sandbox-demo-key")
    with pytest.raises(RateLimited) as raised:
        for _ in range(RATE + 1):
            client.list_flows(per_page=1)
    assert "Patchworks is busy" in raised.value.message
    assert len(on_sandbox.requests()) <= RATE


def test_a_429_pauses_that_key_for_its_retry_after(small_budget, settings, on_sandbox):
    settings.PATCHWORKS_GET_RETRIES = 0
    on_sandbox.set_faults(error_status=429, retry_after=2, count=1)
    client = PatchworksClient("sandbox-demo-key")
    with pytest.raises(RateLimited):
        client.list_flows(per_page=1)
    shape = Shape.from_settings()
    paused = budget.key_name("sandbox-demo-key")
    assert budget._try_take(shape, INTERACTIVE, paused, time.time()) > 1
    assert budget._try_take(shape, INTERACTIVE, budget.key_name("another"), time.time()) == 0
    on_sandbox.clear_requests()
    # A connection kept alive through the pause may be closed by the sandbox just as it is
    # used again: a read is tried again then, as it is by default.
    settings.PATCHWORKS_GET_RETRIES = 1
    started = time.monotonic()
    client.list_flows(per_page=1)  # waits out the pause, then goes
    assert time.monotonic() - started > 1
    assert len(on_sandbox.requests()) == 1


def test_a_burst_of_jobs_and_pages_never_exceeds_the_budget(
    small_budget, settings, on_sandbox, client, operator
):
    """Three background jobs' writes and a person's page views at once, for a few windows."""
    if small_budget == "database":
        pytest.skip("threads sharing the in-memory test database: covered with Redis")
    client.force_login(operator)
    client.get("/deployments/")  # the picker cache, as any earlier page
    items = sandbox_deployments(on_sandbox, "filter[global]=0&per_page=60")[:45]
    budget.reset()
    on_sandbox.clear_requests()
    errors: list[Exception] = []
    written: list[str] = []

    def job(chunk: list[dict]) -> None:
        worker = PatchworksClient("sandbox-key-operator")
        try:
            with budget.background():
                worker.list_deployments(per_page=100)  # the job's state check
                for item in chunk:
                    send = (
                        worker.disable_deployment
                        if item["enabled_at"]
                        else worker.enable_deployment
                    )
                    send(item["flow_version_id"], item["id"])
                    written.append(item["id"])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=job, args=(items[i::3],)) for i in range(3)]
    for thread in threads:
        thread.start()
    pages, page_statuses = 0, []
    while any(thread.is_alive() for thread in threads):
        page_statuses.append(client.get("/deployments/?per_page=10").status_code)
        pages += 1
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(written) == len(items)
    times = received(on_sandbox)
    runs = [e for e in on_sandbox.requests() if e["path"] == "/api/v1/flow-runs"]
    # Each page: its list, and one runs read for its rows' health (unless the budget said no).
    assert len(times) - len(runs) == len(items) + 3 + pages
    assert len(runs) <= pages
    assert busiest_window(times) <= RATE, busiest_window(times)
    # People's pages were served throughout (none told to come back later).
    assert set(page_statuses) == {200}
    assert not any(entry["status"] == 429 for entry in on_sandbox.requests())


# A page's extras and its patience ----------------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def default_budget(request, settings):
    """The default budget, 120 requests a minute, counted in the database (as `make run` counts
    it) or in Redis."""
    counted_in(request.param, settings, 120, 60)
    yield Shape.from_settings()
    budget.reset()


def test_an_inner_patience_never_lengthens_an_outer_one(default_budget):
    """A read that must not wait (a version number a page can go without) stays so through a
    shared read's longer patience for a fallback."""
    with budget.patience(0.0):
        while True:  # people's share spent: the next request may go in about half a second
            try:
                budget.take("someone")
            except budget.BudgetExhausted:
                break
    started = time.monotonic()

    with budget.patience(0.0), budget.patience(1.0), pytest.raises(budget.BudgetExhausted):
        budget.take("someone")
    assert time.monotonic() - started < 0.2


def test_a_pages_extras_take_only_what_nobody_is_using_and_never_wait(default_budget):
    with budget.spare():
        assert budget.take("someone") == pytest.approx(0, abs=0.1)  # a full bucket
    budget.take("someone")  # someone's page view: the bucket is no longer full
    started = time.monotonic()

    with budget.spare(), pytest.raises(budget.BudgetExhausted):
        budget.take("someone")
    assert time.monotonic() - started < 0.2
    shape = default_budget
    for _ in range(round(shape.tolerance(INTERACTIVE) / shape.interval) - 2):
        assert budget.take("someone") == pytest.approx(0, abs=0.1)  # people's share is there
