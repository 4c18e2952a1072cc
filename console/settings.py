"""Settings for the Deployments Console: one module, every value from the environment.

Safe local defaults; production is configured entirely by environment variables
(docs/configuration.md lists them; `make docs` writes it from this module's env_* readers and
console/setting_meanings.py). `NAME_FILE` may hold a path to read NAME from (container secrets).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_networks(
    name: str, default: str = ""
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a comma list of addresses or CIDRs") from exc


def env_base_url(name: str, default: str) -> str:
    value = env_str(name, default).strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be a host root such as https://host, not {value!r}"
        )
    if parts.path not in {"", "/"}:
        raise ImproperlyConfigured(f"{name} is the host root: the console appends /api/v1 itself")
    return value


# The "django-insecure-" prefix makes `check --deploy` flag it (security.W009).
DEV_SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"
TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "huey.contrib.djhuey",
    "deployments_ui",
]

MIDDLEWARE = [
    "deployments_ui.middleware.UntrustedForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "deployments_ui.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "deployments_ui.middleware.LocaleMiddleware",
    "deployments_ui.middleware.SessionRenewalMiddleware",
    "deployments_ui.middleware.TimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "deployments_ui.accounts.sso.TrustedProxySsoMiddleware",
    "deployments_ui.accounts.oidc.OidcSessionRefresh",
    "deployments_ui.middleware.SignedInNoStoreMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "deployments_ui.middleware.ReadAheadMiddleware",
    "deployments_ui.accounts.access.AccessMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "deployments_ui.accounts.oidc.SignOutFormAction",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "deployments_ui.context_processors.console",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'console.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a lock rather than failing at once when two requests write together.
    # WAL lets pages read while the audit trail writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL;",
    )
# The migration role (owner of the schema), used only by `manage.py release`: the console itself
# runs as DATABASE_URL's role, which may not alter the audit table (docs/DATABASE.md). Nothing
# routes to this alias; `release` names it. In tests it mirrors `default` (no second database).
MIGRATE_DATABASE_URL = env_str("MIGRATE_DATABASE_URL")
if MIGRATE_DATABASE_URL:
    DATABASES["migrate"] = dj_database_url.parse(MIGRATE_DATABASE_URL, conn_max_age=0)
    DATABASES["migrate"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Pages keep working while Redis is away (deployments_ui/patchworks/redis_health.py); a
    # Redis that does not answer costs at most these timeouts, then is left alone a moment.
    CACHES = {
        "default": {
            "BACKEND": "deployments_ui.patchworks.redis_health.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 2.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background work: Huey. SQLite storage by default (a file next to the console's SQLite database,
# or HUEY_SQLITE_PATH), Redis when REDIS_URL is set so that consumers on several machines share
# one queue. Tests run tasks at once, in the calling process (immediate mode).
_database_name = DATABASES["default"].get("NAME") or ""
_huey_default_dir = (
    Path(_database_name).parent
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and _database_name
    else BASE_DIR
)
HUEY_SQLITE_PATH = env_str("HUEY_SQLITE_PATH", str(_huey_default_dir / "huey.sqlite3"))
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", TESTING)
_huey_consumer = {
    "workers": env_int("HUEY_WORKERS", 2),
    "worker_type": "thread",
    "check_worker_health": True,
    "periodic": True,
}
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "deployments-console",
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
        "consumer": _huey_consumer,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "deployments-console",
        "filename": HUEY_SQLITE_PATH,
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
        "consumer": _huey_consumer,
    }
# Scheduled changes: how often the worker looks for due ones, and how long finished ones are kept.
CONSOLE_SCHEDULE_POLL_SECONDS = env_int("CONSOLE_SCHEDULE_POLL_SECONDS", 5)
CONSOLE_SCHEDULE_KEEP_DAYS = env_int("CONSOLE_SCHEDULE_KEEP_DAYS", 90)
# A scheduled change whose worker stopped before it was made is tried again within this window.
CONSOLE_SCHEDULE_RETRY_MINUTES = env_int("CONSOLE_SCHEDULE_RETRY_MINUTES", 10)

# Notifications: email through Django's email settings, signed webhooks from the worker.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Deployments Console <console@localhost>")
# Where links in emails and webhooks point (e.g. https://console.example.com); none when empty.
CONSOLE_BASE_URL = env_str("CONSOLE_BASE_URL").rstrip("/")
# Webhooks: plain http only when allowed (on in debug); private, loopback and link-local
# addresses only when allowed (for a receiver inside your own network).
CONSOLE_WEBHOOK_ALLOW_HTTP = env_bool("CONSOLE_WEBHOOK_ALLOW_HTTP", DEBUG)
CONSOLE_WEBHOOK_ALLOW_PRIVATE = env_bool("CONSOLE_WEBHOOK_ALLOW_PRIVATE", DEBUG)
CONSOLE_WEBHOOK_TIMEOUT = env_float("CONSOLE_WEBHOOK_TIMEOUT", 10.0)
# A delivery is retried with exponential backoff for this many hours, then marked failed.
CONSOLE_WEBHOOK_RETRY_HOURS = env_float("CONSOLE_WEBHOOK_RETRY_HOURS", 24.0)
# Finished deliveries (the webhooks' delivery logs) are kept this many days.
CONSOLE_DELIVERY_KEEP_DAYS = env_int("CONSOLE_DELIVERY_KEEP_DAYS", 30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "deployments_ui.accounts.permissions.OneQueryPermissions",
    "django.contrib.auth.backends.ModelBackend",
]
if TESTING:
    # The real hasher is slow on purpose; the tests sign in hundreds of times.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "deployment-list"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes): lock a username+address after repeated failures.
AXES_FAILURE_LIMIT = env_int("CONSOLE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("CONSOLE_LOGIN_COOLOFF_HOURS", 0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# And per account across every address (deployments_ui.accounts.lockout), a higher limit.
LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("CONSOLE_LOGIN_ACCOUNT_FAILURE_LIMIT", 20)
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "deployments_ui.views.accounts.locked_out"
# The browser's address as vouched for by the trusted proxies (X-Forwarded-For), else the peer.
AXES_CLIENT_IP_CALLABLE = "deployments_ui.core.http.client_ip"

# Single sign-on through a trusted proxy (oauth2-proxy, Pomerium, ...). Off unless a header is set.
SSO_HEADER = env_str("CONSOLE_SSO_HEADER")
SSO_GROUPS_HEADER = env_str("CONSOLE_SSO_GROUPS_HEADER")
SSO_TRUSTED_PROXIES = env_networks("CONSOLE_SSO_TRUSTED_PROXIES")
# Identities must be email addresses unless this is switched off.
SSO_REQUIRE_EMAIL = env_bool("CONSOLE_SSO_REQUIRE_EMAIL", True)
SSO_DEFAULT_ROLE = env_str("CONSOLE_SSO_DEFAULT_ROLE", "Viewer")
SSO_GROUP_ROLES = dict(
    item.split("=", 1) for item in env_list("CONSOLE_SSO_GROUP_ROLES") if "=" in item
)
# Groups that give a role in one place only (docs/roles.md): "ops-test=Operator@test,
# uk-live-editors=Editor@env:12"; several for one group separated by ";".
SSO_GROUP_SCOPES = dict(
    item.split("=", 1) for item in env_list("CONSOLE_SSO_GROUP_SCOPES") if "=" in item
)
LOCAL_LOGIN_ENABLED = env_bool("CONSOLE_LOCAL_LOGIN", True)
# Where single sign-on is on, the only accounts that may still sign in with a password (the
# break-glass ones), e.g. "breakglass,ops-admin"; empty: every local account may.
LOCAL_LOGIN_ACCOUNTS = env_list("CONSOLE_LOCAL_LOGIN_ACCOUNTS")
# Where sign-out sends SSO users, e.g. oauth2-proxy's /oauth2/sign_out (else the proxy signs
# them straight back in).
SSO_LOGOUT_URL = env_str("CONSOLE_SSO_LOGOUT_URL")

# Sign-in with OpenID Connect (deployments_ui.accounts.oidc, docs/sign-in.md). Off unless a
# client id and the provider (its issuer, for discovery, or its endpoints) are set.
OIDC_ISSUER = env_str("CONSOLE_OIDC_ISSUER").strip().rstrip("/")
OIDC_AUTHORIZATION_ENDPOINT = env_str("CONSOLE_OIDC_AUTHORIZATION_ENDPOINT").strip()
OIDC_TOKEN_ENDPOINT = env_str("CONSOLE_OIDC_TOKEN_ENDPOINT").strip()
OIDC_USERINFO_ENDPOINT = env_str("CONSOLE_OIDC_USERINFO_ENDPOINT").strip()
OIDC_JWKS_URI = env_str("CONSOLE_OIDC_JWKS_URI").strip()
OIDC_END_SESSION_ENDPOINT = env_str("CONSOLE_OIDC_END_SESSION_ENDPOINT").strip()
OIDC_RP_CLIENT_ID = env_str("CONSOLE_OIDC_CLIENT_ID").strip()
OIDC_RP_CLIENT_SECRET = env_str("CONSOLE_OIDC_CLIENT_SECRET").strip()
OIDC_RP_SCOPES = env_str("CONSOLE_OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = env_str("CONSOLE_OIDC_GROUPS_CLAIM", "groups")
OIDC_IDENTITY_CLAIM = env_str("CONSOLE_OIDC_IDENTITY_CLAIM", "email")
# The button says "Sign in with <this>".
OIDC_PROVIDER_NAME = env_str("CONSOLE_OIDC_PROVIDER_NAME", "single sign-on")
OIDC_RP_SIGN_ALGO = env_str("CONSOLE_OIDC_SIGN_ALGO", "RS256")
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("CONSOLE_OIDC_TOKEN_BASIC_AUTH", False)
# How often a signed-in person is re-checked at the provider (roles follow their groups).
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("CONSOLE_OIDC_RECHECK_SECONDS", 900)
OIDC_TIMEOUT = env_float("CONSOLE_OIDC_TIMEOUT", 10.0)
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # in the server-side session, for the provider's sign-out
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
AUTHENTICATION_BACKENDS.append("deployments_ui.accounts.oidc.ConsoleOidcBackend")

# Encryption of stored Patchworks API keys: Fernet keys, the first encrypts, all decrypt.
CONSOLE_ENCRYPTION_KEYS = env_list("CONSOLE_ENCRYPTION_KEYS")
CONSOLE_SERVICE_API_KEY = env_str("CONSOLE_SERVICE_API_KEY")
# The most events one CSV export of the audit log holds (newest first).
CONSOLE_AUDIT_EXPORT_MAX_ROWS = env_int("CONSOLE_AUDIT_EXPORT_MAX_ROWS", 50_000)
# The audit trail's hash chain key (HMAC); never stored in the database.
CONSOLE_AUDIT_KEY = env_str("CONSOLE_AUDIT_KEY")
# Where every audit event also goes, as one JSON line (docs/operations.md): a comma list of
# stdout, file:PATH, syslog://host:port (UDP) and syslog+tcp://host:port. The worker delivers
# at most CONSOLE_AUDIT_STREAM_BATCH events a batch, for at most ..._SECONDS a tick.
CONSOLE_AUDIT_STREAM = env_list("CONSOLE_AUDIT_STREAM")
CONSOLE_AUDIT_STREAM_BATCH = env_int("CONSOLE_AUDIT_STREAM_BATCH", 500)
CONSOLE_AUDIT_STREAM_SECONDS = env_float("CONSOLE_AUDIT_STREAM_SECONDS", 20.0)
CONSOLE_REQUIRE_REASON = env_bool("CONSOLE_REQUIRE_REASON", False)
# The global deployment (no environment) runs in every environment: by default the rules and
# freeze windows of every environment type apply to it (live's included).
CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE = env_bool("CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE", True)
# Change requests not applied within this many days expire.
CONSOLE_CHANGE_REQUEST_DAYS = env_int("CONSOLE_CHANGE_REQUEST_DAYS", 7)
# Drift detection pauses this long between upstream pages (240 requests a minute is the limit).
CONSOLE_SYNC_MIN_INTERVAL = env_float("CONSOLE_SYNC_MIN_INTERVAL", 0.5)

# The Patchworks Core API.
PATCHWORKS_BASE_URL = env_base_url("PATCHWORKS_BASE_URL", "http://127.0.0.1:8001")
PATCHWORKS_CONNECT_TIMEOUT = env_float("PATCHWORKS_CONNECT_TIMEOUT", 3.05)
PATCHWORKS_READ_TIMEOUT = env_float("PATCHWORKS_READ_TIMEOUT", 10.0)
PATCHWORKS_GET_RETRIES = env_int("PATCHWORKS_GET_RETRIES", 2)
PATCHWORKS_RETRY_AFTER_CAP = env_float("PATCHWORKS_RETRY_AFTER_CAP", 5.0)
PATCHWORKS_PICKER_CACHE_SECONDS = env_int("PATCHWORKS_PICKER_CACHE_SECONDS", 120)
# When Patchworks leaves version numbers out of deployments, how many flows' version lists one
# page view may fetch (cold cache) to number them; the rest say "number not available".
PATCHWORKS_FILL_VERSION_LISTS = env_int("PATCHWORKS_FILL_VERSION_LISTS", 50)
# /readyz answers from its last Patchworks check for this long (one upstream call per process).
CONSOLE_READY_CACHE_SECONDS = env_float("CONSOLE_READY_CACHE_SECONDS", 15.0)
# The console's share of Patchworks' rate limit, across all its processes (0: no limit), and
# the window it is counted over (seconds; shorter only in tests). Off under tests unless a test
# turns it on, so that tests do not wait for each other's requests.
PATCHWORKS_REQUESTS_PER_MINUTE = env_int("PATCHWORKS_REQUESTS_PER_MINUTE", 0 if TESTING else 120)
PATCHWORKS_BUDGET_WINDOW_SECONDS = env_float("PATCHWORKS_BUDGET_WINDOW_SECONDS", 60.0)
# Shared reads (deployments_ui/patchworks/shared.py): an upstream answer serves everyone asking
# the same for this long (0: off; off under tests unless a test turns it on), is kept this long
# to serve pages while the budget is spent, and is given only to keys Patchworks accepted within
# the last TRUST seconds.
CONSOLE_SHARED_READ_SECONDS = env_float("CONSOLE_SHARED_READ_SECONDS", 0 if TESTING else 5.0)
CONSOLE_SHARED_READ_FALLBACK_SECONDS = env_float("CONSOLE_SHARED_READ_FALLBACK_SECONDS", 300.0)
CONSOLE_SHARED_READ_TRUST_SECONDS = env_float("CONSOLE_SHARED_READ_TRUST_SECONDS", 300.0)
# Bulk enable and disable: the most deployments one job may change.
CONSOLE_BULK_MAX_ITEMS = env_int("CONSOLE_BULK_MAX_ITEMS", 500)
# Flow health beside deployments: one read of recent flow runs per page of deployments.
CONSOLE_FLOW_HEALTH_ENABLED = env_bool("CONSOLE_FLOW_HEALTH_ENABLED", True)
# How far back runs are read (Patchworks keeps 7 days), and how many in that one read (1-100).
CONSOLE_FLOW_HEALTH_HOURS = env_int("CONSOLE_FLOW_HEALTH_HOURS", 24)
CONSOLE_FLOW_HEALTH_RUNS = env_int("CONSOLE_FLOW_HEALTH_RUNS", 100)
# How close a change must come before failures (or a return to health) to be named with them.
CONSOLE_FLOW_HEALTH_RELATED_MINUTES = env_int("CONSOLE_FLOW_HEALTH_RELATED_MINUTES", 120)
# How often the worker reads the live deployments' health to tell subscribers (0: never).
CONSOLE_FLOW_HEALTH_WATCH_MINUTES = env_int("CONSOLE_FLOW_HEALTH_WATCH_MINUTES", 5)
# Personal API tokens (docs/api.md): the requests one token may make a minute (0: no limit; the
# company's Patchworks budget still holds), and the longest a token may last.
CONSOLE_API_TOKEN_REQUESTS_PER_MINUTE = env_int("CONSOLE_API_TOKEN_REQUESTS_PER_MINUTE", 60)
CONSOLE_API_TOKEN_MAX_DAYS = env_int("CONSOLE_API_TOKEN_MAX_DAYS", 365)

LANGUAGE_CODE = "en-gb"
# The reader's language, from the browser (Accept-Language) or the menu's switch (a cookie).
LANGUAGES = [("en-gb", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("CONSOLE_TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_MAX_AGE = 31536000 if not DEBUG else 0

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Sessions and cookies: secure in production, an idle timeout that renews on activity.
SESSION_COOKIE_AGE = env_int("CONSOLE_SESSION_IDLE_SECONDS", 8 * 3600)
SESSION_RENEW_SECONDS = env_int("CONSOLE_SESSION_RENEW_SECONDS", 300)
# However active, a session ends this long after signing in (SSO signs people straight back in,
# with their roles as the identity provider has them then).
SESSION_MAX_AGE = env_int("CONSOLE_SESSION_MAX_AGE", 12 * 3600)
SESSION_COOKIE_HTTPONLY = True
# With a shared cache (Redis), a page reads the session from it and not from the database; every
# change is still written to the database, so nothing is lost if the cache is flushed.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("CONSOLE_SECURE_COOKIES", not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = env_bool("CONSOLE_SSL_REDIRECT", False)
# The platform's probes (and the image's HEALTHCHECK) call these over plain http from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("CONSOLE_BEHIND_TLS_PROXY", False) else None
)
SECURE_HSTS_SECONDS = env_int("CONSOLE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading is decided for the company's whole registrable domain and is slow to undo, not by
# one internal app: off unless asked for, and check --deploy's reminder about it is silenced.
SECURE_HSTS_PRELOAD = env_bool("CONSOLE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # NONCE (not the string "'nonce'"): django-csp puts this request's nonce here when a
        # template used it, and leaves it out otherwise.
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# WhiteNoise answers static files before django-csp and XFrameOptionsMiddleware run (only
# SecurityMiddleware is ahead of it): give those files a policy of their own, so that an SVG
# opened directly, for instance, cannot run anything either.
STATIC_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _static_security_headers(headers, path: str, url: str) -> None:
    headers["Content-Security-Policy"] = STATIC_CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = X_FRAME_OPTIONS


WHITENOISE_ADD_HEADERS_FUNCTION = _static_security_headers

LOG_LEVEL = env_str("CONSOLE_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "deployments_ui.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "urllib3": {"level": "WARNING"},
        # The worker logs each task it runs (one every few seconds): only trouble, unless debugging.
        "huey": {
            "handlers": ["console"],
            "level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING",
            "propagate": False,
        },
    },
}
