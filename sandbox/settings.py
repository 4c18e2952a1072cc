"""Settings for the sandbox: a local stand-in for the Patchworks Core API, served on its own.

Run with DJANGO_SETTINGS_MODULE=sandbox.settings. It is a JSON API with no sessions, no admin
and no CSRF; its database is separate from the console's.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable, refusing anything that is not clearly yes or no."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-insecure-dev-key-not-for-production")
DEBUG = env_bool("SANDBOX_DEBUG", False)
# A local stand-in reached by whatever name the console or the tests use.
ALLOWED_HOSTS = ["*"]

# Control endpoints (/__sandbox__/...) reset data and inject faults: switch them off for demos
# that are exposed beyond the developer's machine.
SANDBOX_CONTROL_ENABLED = env_bool("SANDBOX_CONTROL_ENABLED", True)

# The shape of the answers (see sandbox/shapes.py); /__sandbox__/shape changes it at run time.
SANDBOX_RESPONSE_SHAPES = ("flat-camel", "flat-snake", "jsonapi", "bodyless-writes")
SANDBOX_RESPONSE_SHAPE = os.environ.get("SANDBOX_RESPONSE_SHAPE", "").strip() or "flat-camel"
if SANDBOX_RESPONSE_SHAPE not in SANDBOX_RESPONSE_SHAPES:
    raise ImproperlyConfigured(
        f"SANDBOX_RESPONSE_SHAPE must be one of {', '.join(SANDBOX_RESPONSE_SHAPES)}, "
        f"got {SANDBOX_RESPONSE_SHAPE!r}"
    )

# The company's allowance of enabled deployments ("active flows"); unset: no limit. While the
# sandbox runs, /__sandbox__/allowance changes it.
_max_enabled = os.environ.get("SANDBOX_MAX_ENABLED", "").strip()
if _max_enabled and not _max_enabled.isdigit():
    raise ImproperlyConfigured(f"SANDBOX_MAX_ENABLED must be a whole number, got {_max_enabled!r}")
SANDBOX_MAX_ENABLED = int(_max_enabled) if _max_enabled else None

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "sandbox",
]

MIDDLEWARE = [
    "sandbox.middleware.RequestLogMiddleware",
    "sandbox.middleware.FaultMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
WSGI_APPLICATION = "sandbox.wsgi.application"
TEMPLATES: list[dict] = []

DATABASES = {
    "default": dj_database_url.config(
        env="SANDBOX_DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'sandbox.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # gunicorn runs several threads: wait for the write lock instead of failing at once, take it
    # up front in transactions (no deadlock on upgrade), and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
