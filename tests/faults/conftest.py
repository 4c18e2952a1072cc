"""The fault matrix runs on PostgreSQL and Redis only (CI's second run): on SQLite every test
here is skipped, with the reason."""

from __future__ import annotations

import pytest

from tests.faults.stack import Stack, postgresql_url, redis_answers


@pytest.fixture(scope="session")
def stack(tmp_path_factory, sandbox_server):
    database_url = postgresql_url()
    if database_url is None:
        pytest.skip("the fault matrix needs PostgreSQL: DATABASE_URL is not a postgres:// URL")
    if not redis_answers():
        pytest.skip("the fault matrix needs Redis at 127.0.0.1:6379")
    running = Stack(tmp_path_factory.mktemp("faults"), sandbox_server.url, database_url)
    running.create()
    try:
        running.start_console()
        running.start_worker()
        yield running
    finally:
        running.stop()
        running.drop()


@pytest.fixture
def faults(stack, sandbox):
    """The stack with its proxies open, its worker running, and a fresh sandbox."""
    stack.postgresql.restore()
    stack.redis.restore()
    if stack.worker is None or stack.worker.poll() is not None:
        stack.start_worker()
    yield stack
    stack.postgresql.restore()
    stack.redis.restore()
