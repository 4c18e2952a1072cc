"""What each setting means, for docs/configuration.md (written by console/configuration_docs.py).

Add a row here when console/settings.py or gunicorn.conf.py reads a new setting, then run
`make docs`; tests/test_docs.py fails until both agree. Defaults are taken from the code; only a
default that is an expression (it depends on DEBUG, say) is worded here, next to the exact
expression it words, so that a changed expression asks for new words.
"""

from __future__ import annotations

INTRO = """
# Configuration

Every setting comes from an environment variable; nothing is configured in a file inside the
image. Any console setting (not the `GUNICORN_*` ones, nor `PORT` and `FORWARDED_ALLOW_IPS`) may
instead be read from a file: set `NAME_FILE=/run/secrets/name` instead of `NAME` (container
secrets). [`.env.example`](../.env.example) has them all with example values. A true-or-false
setting takes `true`, `false`, `1`, `0`, `yes`, `no`, `on` or `off`; a value the console cannot
read stops it at start with a message naming the setting.

Which five to set first, and how: [install.md](install.md#the-first-five-settings).

This page is written by `make docs` from the settings the code reads (`console/settings.py` and
`gunicorn.conf.py`), with the meanings in `console/setting_meanings.py`; a test fails when the
two disagree. Edit those, not this page.
"""

OUTRO = """
## For development only

The Patchworks sandbox (`make run`, the tests) has settings of its own, never used in
production: `SANDBOX_RESPONSE_SHAPE` (the shape it answers in: `flat-camel`, the default,
`flat-snake`, `jsonapi` as `make run` uses, or `bodyless-writes`; see
[PATCHWORKS.md](PATCHWORKS.md)) and `SANDBOX_MAX_ENABLED` (the plan's allowance of enabled
deployments; enables past it are refused). `manage.py demo_setup` reads
`CONSOLE_DEMO_WEBHOOK_URL`, the address its demo webhook posts to.
"""

# name: (the default's exact expression in the code, how the page words it)
DEFAULTS = {
    "DJANGO_SECRET_KEY": ("DEV_SECRET_KEY", "a development key (`check --deploy` flags it)"),
    "DATABASE_URL": (
        "f\"sqlite:///{BASE_DIR / 'console.sqlite3'}\"",
        "the SQLite file `console.sqlite3` (in the image, under `/data`)",
    ),
    "HUEY_SQLITE_PATH": (
        "str(_huey_default_dir / 'huey.sqlite3')",
        "`huey.sqlite3` next to the console's SQLite database",
    ),
    "HUEY_IMMEDIATE": ("TESTING", "`false` (`true` under tests)"),
    "CONSOLE_WEBHOOK_ALLOW_HTTP": ("DEBUG", "`false` (`true` when debugging)"),
    "CONSOLE_WEBHOOK_ALLOW_PRIVATE": ("DEBUG", "`false` (`true` when debugging)"),
    "PATCHWORKS_REQUESTS_PER_MINUTE": ("0 if TESTING else 120", "`120` (`0`, off, under tests)"),
    "CONSOLE_SHARED_READ_SECONDS": ("0 if TESTING else 5.0", "`5` (`0`, off, under tests)"),
    "CONSOLE_SECURE_COOKIES": ("not DEBUG and not TESTING", "`true` (`false` when debugging)"),
    "CONSOLE_HSTS_SECONDS": ("0 if DEBUG else 31536000", "`31536000` (`0` when debugging)"),
    "GUNICORN_WORKERS": (
        "min(2 * _cores() + 1, MAX_DEFAULT_WORKERS)",
        "twice the cores plus one, at most 12",
    ),
}

SECTIONS: dict[str, dict[str, str]] = {
    "The console": {
        "DJANGO_DEBUG": "development mode (`make run` turns it on); never in production",
        "DJANGO_SECRET_KEY": "required in production: 50 or more random characters; changing it "
        "signs everyone out",
        "DJANGO_ALLOWED_HOSTS": "the host names the console answers to",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "origins allowed to send forms, e.g. "
        "`https://console.example.com` behind a TLS proxy",
        "CONSOLE_BASE_URL": "the console's own address, e.g. `https://console.example.com`, for "
        "links in emails and webhooks (none when empty)",
        "CONSOLE_TIME_ZONE": "times for people whose browser has not said its time zone yet (pages "
        "follow each person's browser); also the daily digest's clock",
        "CONSOLE_LOG_LEVEL": "`DEBUG`, `INFO`, `WARNING` or `ERROR`",
    },
    "Database, cache and background queue": {
        "DATABASE_URL": "e.g. `postgres://console:…@db:5432/console`; on PostgreSQL, the "
        "runtime role, which owns nothing ([DATABASE.md](DATABASE.md))",
        "MIGRATE_DATABASE_URL": "the migration role (owner of the schema), used only by "
        "`manage.py release`; unset, release migrates on `DATABASE_URL` and grants nothing",
        "DATABASE_CONN_MAX_AGE": "seconds a database connection is kept between requests",
        "REDIS_URL": "shared cache, sessions, the rate budget and the worker's queue across "
        "processes and machines; unset, each process keeps its own cache and the queue is a "
        "SQLite file",
        "HUEY_SQLITE_PATH": "the worker's queue when `REDIS_URL` is not set (the console and its "
        "workers must share this file)",
        "HUEY_WORKERS": "worker threads in each `run_huey` process",
        "HUEY_IMMEDIATE": "run background tasks at once in the calling process instead of "
        "queueing them (tests only)",
    },
    "Patchworks": {
        "PATCHWORKS_BASE_URL": "Patchworks' host root (production "
        "`https://core.wearepatchworks.com`); `/api/v1` is appended",
        "PATCHWORKS_CONNECT_TIMEOUT": "seconds to connect (gunicorn's worker timeout follows it)",
        "PATCHWORKS_READ_TIMEOUT": "seconds to wait for an answer (gunicorn's worker timeout "
        "follows it)",
        "PATCHWORKS_GET_RETRIES": "retries of reads; writes are never retried",
        "PATCHWORKS_RETRY_AFTER_CAP": "the longest `Retry-After`, in seconds, waited for before "
        "giving up",
        "PATCHWORKS_PICKER_CACHE_SECONDS": "how long the environment, package and flow lists are "
        "kept per API key",
        "PATCHWORKS_FILL_VERSION_LISTS": "when Patchworks leaves version numbers out, how many "
        "flows' version lists one page view may read to number them",
        "PATCHWORKS_REQUESTS_PER_MINUTE": "the console's share of Patchworks' rate limit (240 a "
        "minute per company), across all its processes; people's pages first, background work "
        "waits; `0` switches it off",
        "PATCHWORKS_BUDGET_WINDOW_SECONDS": "the window that share is counted over (shorter only "
        "in tests)",
        "CONSOLE_SHARED_READ_SECONDS": "one upstream answer serves everyone asking the same for "
        "this many seconds (`0`: off)",
        "CONSOLE_SHARED_READ_FALLBACK_SECONDS": "how long such an answer is kept to serve pages, "
        "with its age, while the rate budget is spent",
        "CONSOLE_SHARED_READ_TRUST_SECONDS": "a shared answer is given only to keys Patchworks "
        "accepted within this many seconds",
        "CONSOLE_SERVICE_API_KEY": "a Patchworks key for background work (drift detection) when "
        "no Admin has saved one on the Service key page (a saved one wins)",
        "CONSOLE_SYNC_MIN_INTERVAL": "seconds drift detection waits between upstream pages",
        "CONSOLE_READY_CACHE_SECONDS": "`/readyz` answers from its last Patchworks check this "
        "long (one upstream call per process)",
    },
    "Stored keys and the audit trail": {
        "CONSOLE_ENCRYPTION_KEYS": "required in production: Fernet keys that encrypt stored API "
        "keys and webhook secrets; the first encrypts, all decrypt (rotation: "
        "[operations.md](operations.md#rotating-the-encryption-keys))",
        "CONSOLE_AUDIT_KEY": "required in production: the audit trail's hash chain key (HMAC); "
        "keep it outside the database and never change it (unset, it is derived from "
        "`DJANGO_SECRET_KEY` and `check --deploy` warns)",
        "CONSOLE_AUDIT_EXPORT_MAX_ROWS": "the most events one CSV export holds (newest first; "
        "the page says so)",
        "CONSOLE_AUDIT_STREAM": "where every audit event also goes as a JSON line: `stdout`, "
        "`file:PATH`, `syslog://host:port`, `syslog+tcp://host:port`, comma-separated "
        "([operations.md](operations.md#streaming-to-a-siem))",
        "CONSOLE_AUDIT_STREAM_BATCH": "the most events the stream sends at once",
        "CONSOLE_AUDIT_STREAM_SECONDS": "the longest one stream delivery run takes",
    },
    "Changes": {
        "CONSOLE_REQUIRE_REASON": "a reason is required for every enable and disable (live "
        "environments always ask for one)",
        "CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE": "the global deployment (no environment) follows the "
        "rules and freeze windows of every environment type, live's included",
        "CONSOLE_CHANGE_REQUEST_DAYS": "days after which a change request that was not applied "
        "expires",
        "CONSOLE_SCHEDULE_POLL_SECONDS": "how often the worker looks for scheduled changes that "
        "are due",
        "CONSOLE_SCHEDULE_KEEP_DAYS": "days finished scheduled changes are kept",
        "CONSOLE_SCHEDULE_RETRY_MINUTES": "a scheduled change whose worker stopped before making "
        "it is tried again within this many minutes",
        "CONSOLE_BULK_MAX_ITEMS": "the most deployments one bulk enable or disable may change",
        "CONSOLE_API_TOKEN_REQUESTS_PER_MINUTE": "requests one personal API token may make a "
        "minute (0: no limit; the Patchworks budget still holds; [api.md](api.md))",
        "CONSOLE_API_TOKEN_MAX_DAYS": "the longest a personal API token may last, in days",
    },
    "Flow health": {
        "CONSOLE_FLOW_HEALTH_ENABLED": "read recent flow runs to show how each deployment's flow "
        "is running",
        "CONSOLE_FLOW_HEALTH_HOURS": "how far back runs are read (at most 168: Patchworks keeps "
        "7 days)",
        "CONSOLE_FLOW_HEALTH_RUNS": "runs read in the one request per page of deployments (1–100)",
        "CONSOLE_FLOW_HEALTH_WATCH_MINUTES": "how often the worker reads the live deployments' "
        "health to tell subscribers (0: never)",
        "CONSOLE_FLOW_HEALTH_RELATED_MINUTES": "how close before failures (or a recovery) a change "
        "must be for the page to name it with them",
    },
    "Notifications": {
        "EMAIL_BACKEND": "how email is sent (`make run` prints it with "
        "`django.core.mail.backends.console.EmailBackend`)",
        "EMAIL_HOST": "the SMTP server",
        "EMAIL_PORT": "its port",
        "EMAIL_HOST_USER": "SMTP sign-in",
        "EMAIL_HOST_PASSWORD": "SMTP password (`EMAIL_HOST_PASSWORD_FILE` for a container secret)",
        "EMAIL_USE_TLS": "STARTTLS (usually port 587)",
        "EMAIL_USE_SSL": "implicit TLS (usually port 465)",
        "EMAIL_TIMEOUT": "seconds to wait for the SMTP server",
        "DEFAULT_FROM_EMAIL": "the sender of notification emails",
        "CONSOLE_WEBHOOK_ALLOW_HTTP": "allow webhook addresses starting `http://`",
        "CONSOLE_WEBHOOK_ALLOW_PRIVATE": "allow webhooks to reach loopback, private, link-local "
        "and other non-public addresses (a receiver inside your network)",
        "CONSOLE_WEBHOOK_TIMEOUT": "seconds a webhook receiver has to answer",
        "CONSOLE_WEBHOOK_RETRY_HOURS": "how long failed deliveries are retried before they are "
        "marked failed and the webhook's owner is emailed",
        "CONSOLE_DELIVERY_KEEP_DAYS": "days finished deliveries stay in the delivery logs",
    },
    "Sign-in": {
        "CONSOLE_LOCAL_LOGIN": "allow user name and password sign-in (switch off once single "
        "sign-on works)",
        "CONSOLE_LOCAL_LOGIN_ACCOUNTS": "where single sign-on is on, the only accounts that may "
        "still sign in with a password (break-glass ones), e.g. `breakglass,ops-admin`; empty: "
        "every local account",
        "CONSOLE_LOGIN_FAILURE_LIMIT": "failed sign-ins from one address before a lockout",
        "CONSOLE_LOGIN_COOLOFF_HOURS": "how long a lockout lasts",
        "CONSOLE_LOGIN_ACCOUNT_FAILURE_LIMIT": "failed sign-ins to one user name from any "
        "addresses before its password sign-in pauses",
        "CONSOLE_SSO_HEADER": "single sign-on through a proxy: the identity header it sets, e.g. "
        "`X-Forwarded-Email` (unset: off)",
        "CONSOLE_SSO_GROUPS_HEADER": "the proxy's groups header, e.g. `X-Forwarded-Groups`",
        "CONSOLE_SSO_TRUSTED_PROXIES": "the proxy's addresses; the SSO headers, "
        "`X-Forwarded-For`, `X-Forwarded-Proto` and `X-Request-ID` are ignored from anywhere else",
        "CONSOLE_SSO_REQUIRE_EMAIL": "identities must be email addresses",
        "CONSOLE_SSO_DEFAULT_ROLE": "the role of a person's first single sign-on (`none` for no "
        "role)",
        "CONSOLE_SSO_GROUP_ROLES": "`group=Role` pairs, comma-separated, e.g. "
        "`deploy-ops=Operator,deploy-admins=Admin`",
        "CONSOLE_SSO_GROUP_SCOPES": "groups that give a role in one place only "
        "([roles.md](roles.md)), e.g. `ops-test=Operator@test,uk-live=Editor@env:12`; several "
        "for one group separated by `;`",
        "CONSOLE_SSO_LOGOUT_URL": "where signing out sends single sign-on users, e.g. "
        "`/oauth2/sign_out`",
        "CONSOLE_OIDC_ISSUER": "OpenID Connect: the provider's issuer (its endpoints are "
        "discovered) ([sign-in.md](sign-in.md))",
        "CONSOLE_OIDC_CLIENT_ID": "the application's client id (unset: OpenID Connect is off)",
        "CONSOLE_OIDC_CLIENT_SECRET": "its client secret (`CONSOLE_OIDC_CLIENT_SECRET_FILE` for a "
        "container secret)",
        "CONSOLE_OIDC_PROVIDER_NAME": 'the button says "Sign in with *this*", e.g. `Okta`',
        "CONSOLE_OIDC_SCOPES": "scopes asked for (add `groups` for Okta)",
        "CONSOLE_OIDC_GROUPS_CLAIM": "the claim holding the person's groups (`roles` for Entra ID "
        "app roles); empty: roles are not synced",
        "CONSOLE_OIDC_IDENTITY_CLAIM": "the claim that names the person",
        "CONSOLE_OIDC_RECHECK_SECONDS": "how often a signed-in person is re-checked at the "
        "provider",
        "CONSOLE_OIDC_SIGN_ALGO": "the ID token's signing algorithm",
        "CONSOLE_OIDC_TOKEN_BASIC_AUTH": "send the client secret with HTTP Basic rather than in "
        "the form",
        "CONSOLE_OIDC_TIMEOUT": "seconds to wait for the provider",
        "CONSOLE_OIDC_AUTHORIZATION_ENDPOINT": "set instead of (or over) discovery",
        "CONSOLE_OIDC_TOKEN_ENDPOINT": "set instead of (or over) discovery",
        "CONSOLE_OIDC_USERINFO_ENDPOINT": "set instead of (or over) discovery",
        "CONSOLE_OIDC_JWKS_URI": "set instead of (or over) discovery",
        "CONSOLE_OIDC_END_SESSION_ENDPOINT": "set instead of (or over) discovery; where signing "
        "out ends the provider's session too",
    },
    "Sessions, HTTPS and cookies": {
        "CONSOLE_SESSION_IDLE_SECONDS": "idle sign-out: a session ends after this long without a "
        "request",
        "CONSOLE_SESSION_RENEW_SECONDS": "how often activity renews the session (the idle "
        "timeout is accurate to this)",
        "CONSOLE_SESSION_MAX_AGE": "however active, a session ends this long after signing in",
        "CONSOLE_SECURE_COOKIES": "cookies only over HTTPS",
        "CONSOLE_SSL_REDIRECT": "redirect plain HTTP to HTTPS (`/healthz` and `/readyz` are "
        "exempt)",
        "CONSOLE_BEHIND_TLS_PROXY": "believe `X-Forwarded-Proto: https` from the proxy (only "
        "from `CONSOLE_SSO_TRUSTED_PROXIES`; set `FORWARDED_ALLOW_IPS` to the same addresses)",
        "CONSOLE_HSTS_SECONDS": "HSTS max-age",
        "CONSOLE_HSTS_PRELOAD": "ask browsers to preload HSTS: a decision for the company's whole "
        "domain",
    },
    "The web server (gunicorn.conf.py)": {
        "PORT": "the port gunicorn listens on, on every interface of the container",
        "GUNICORN_WORKERS": "processes",
        "GUNICORN_THREADS": "threads in each process",
        "GUNICORN_MAX_REQUESTS": "a process is replaced after this many requests, so a leak stays "
        "bounded",
        "GUNICORN_MAX_REQUESTS_JITTER": "up to this many more, so that they are not all replaced "
        "at once",
        "FORWARDED_ALLOW_IPS": "addresses gunicorn believes `X-Forwarded-Proto` from: the same as "
        "`CONSOLE_SSO_TRUSTED_PROXIES`",
        "GUNICORN_ACCESS_LOG": "the access log (`-` is standard output; empty switches it off); "
        "it never holds query strings, cookies or keys",
        "GUNICORN_LOG_LEVEL": "gunicorn's own log level",
    },
}
