"""With sessions read from Redis (cached_db), a leaver's sessions end in the cache too."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from deployments_ui import audit
from deployments_ui.leavers.cascade import deactivate

REDIS_URL = "redis://127.0.0.1:6379/15"  # this branch's test database


@pytest.fixture
def redis_sessions(settings):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


@pytest.mark.django_db
def test_a_cached_session_ends_too(client, operator, redis_sessions):
    client.force_login(operator)
    assert client.get("/account/api-key/").status_code == 200
    key = client.session.session_key
    assert redis_sessions.get(f"django.contrib.sessions.cached_db{key}") is not None

    result = deactivate(user=operator, actor=audit.Actor.system(), via="SCIM")

    assert result.sessions == 1
    assert redis_sessions.get(f"django.contrib.sessions.cached_db{key}") is None
    assert client.get("/account/api-key/")["Location"].startswith("/accounts/login/")
