"""gunicorn settings for the console: `gunicorn -c gunicorn.conf.py console.wsgi`.

Everything a deployment may want to change comes from the environment (see .env.example);
command-line flags still win over this file (the benchmarks bind to 127.0.0.1 that way).
"""

from __future__ import annotations

import math
import os


def _int(name: str, default: int, *, minimum: int = 1) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, not {number}")
    return number


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {value!r}") from None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Each worker is a full copy of Django (about 50-60 MB resident): past a dozen, more processes
# buy nothing on an I/O-bound console and cost memory. Scale out with more instances instead.
MAX_DEFAULT_WORKERS = 12

bind = f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("GUNICORN_WORKERS", min(2 * _cores() + 1, MAX_DEFAULT_WORKERS))
# Threads, because nearly all of a request's time is spent waiting for Patchworks.
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A request waits at most the connect plus the read timeout for each Patchworks call; with
# gthread this is the worker's heartbeat limit, so keep it above one call's worst case.
timeout = math.ceil(
    _float("PATCHWORKS_CONNECT_TIMEOUT", 3.05) + _float("PATCHWORKS_READ_TIMEOUT", 10.0) + 5
)
graceful_timeout = timeout
keepalive = 5

# Recycle workers now and then so that a slow leak can never grow without bound; the jitter
# keeps them from all restarting at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200, minimum=0)

# Header names with underscores are dropped, never merged with their dashed twin: the SSO
# identity header must not be spoofable as X_Forwarded_Email (see deployments_ui/accounts/sso.py).
# This is gunicorn's default since 22.0; it is stated here so that it cannot silently change.
header_map = "drop"

# Which peers may set X-Forwarded-Proto & co. (the TLS-terminating proxy), comma list or CIDRs.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# No runtime control socket (gunicorn 25.1+): nothing administers the server from inside the
# container, and several gunicorns on one host would otherwise share one socket path.
control_socket_disable = True

# Logs go to the container's stdout/stderr. The access log names only what is safe to keep:
# never the query string (filters and search text), cookies, the Authorization header, the
# referrer (which carries query strings) or the Basic-auth user.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = "%(t)s %(m)s %(U)s %(s)s %(B)s %(M)sms pid=%(p)s request_id=%({x-request-id}o)s"
