"""Health endpoints for the platform: liveness and readiness.

`/readyz` runs every check in `READINESS_CHECKS` (name → function returning True when ready).
Checks that cost something elsewhere are wrapped in `cached_check`, which answers from the
last result for `CONSOLE_READY_CACHE_SECONDS` and lets one thread per process at a time ask
again, so however often the platform (or anyone: the page is public) asks, each process spends
at most one Patchworks call per interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from console import __version__
from deployments_ui.patchworks import PatchworksClient, PatchworksError, RateLimited, Unauthorized


def cached_check(check: Callable[[], bool]) -> Callable[[], bool]:
    """`check`, answered from its last result while that is younger than the interval. While
    one thread asks again, every other probe answers at once from the last result (ready, when
    there is none yet) instead of queueing behind a Patchworks that may hang."""
    lock = threading.Lock()
    last: list[tuple[float, bool]] = []

    def cached() -> bool:
        if last and time.monotonic() - last[0][0] < settings.CONSOLE_READY_CACHE_SECONDS:
            return last[0][1]
        if not lock.acquire(blocking=False):
            return last[0][1] if last else True
        try:
            result = check()
            last[:] = [(time.monotonic(), result)]
            return result
        finally:
            lock.release()

    cached.forget = last.clear  # type: ignore[attr-defined]
    return cached


def database_ready() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def upstream_ready() -> bool:
    """Patchworks answers at all; a rejected probe key or a rate limit still proves it is
    reachable (a 429 must not turn every instance unready at once)."""
    probe = PatchworksClient(settings.CONSOLE_SERVICE_API_KEY or "readiness-probe")
    try:
        probe.list_flows(per_page=1)
    except (Unauthorized, RateLimited):
        return True
    except PatchworksError:
        return False
    return True


READINESS_CHECKS: dict[str, Callable[[], bool]] = {
    "database": database_ready,
    "patchworks": cached_check(lambda: upstream_ready()),
}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "version": __version__})


def _worker_seen() -> bool:
    from deployments_ui.worker.status import worker_seen

    try:
        return worker_seen()
    except Exception:  # the database check above already reports a broken database
        return False


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {name: check() for name, check in READINESS_CHECKS.items()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    # Reported, never required: the console serves pages without a background worker.
    body["worker"] = {"seen_in_last_two_minutes": _worker_seen()}
    return JsonResponse(body, status=200 if ready else 503)
