"""Sessions with a shared cache: read from Redis, written to the database as well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import caches

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CONSOLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


def session_engine(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.SESSION_ENGINE)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "console.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_sessions_use_the_cache_only_when_it_is_shared():
    assert session_engine() == "django.contrib.sessions.backends.db"
    assert session_engine(REDIS_URL=REDIS_URL) == "django.contrib.sessions.backends.cached_db"


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
def test_a_flushed_cache_signs_nobody_out(client, viewer, redis_sessions):
    client.force_login(viewer)
    assert client.get("/account/api-key/").status_code == 200
    redis_sessions.clear()
    response = client.get("/account/api-key/")
    assert response.status_code == 200
    assert response.wsgi_request.user == viewer
