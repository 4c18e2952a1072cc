"""The background worker's health page for admins."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from deployments_ui.worker.status import SEEN_WITHIN, worker_status


@require_GET
def worker_page(request: HttpRequest) -> HttpResponse:
    status = worker_status()
    context = {"status": status, "seen_minutes": int(SEEN_WITHIN.total_seconds() // 60)}
    return TemplateResponse(request, "worker/worker_status.html", context)
