"""Health endpoints for the platform: liveness and readiness."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from console import __version__
from deployments_ui import services


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "version": __version__})


def _worker_seen() -> bool:
    from deployments_ui.worker.status import worker_seen

    try:
        return worker_seen()
    except Exception:  # the database check above already reports a broken database
        return False


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": services.database_ready(), "patchworks": services.upstream_ready()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    # Reported, never required: the console serves pages without a background worker.
    body["worker"] = {"seen_in_last_two_minutes": _worker_seen()}
    return JsonResponse(body, status=200 if ready else 503)
