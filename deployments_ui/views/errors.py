"""The page for a request that failed inside the console (Django's `handler500`).

A lost database is not the console's bug: it answers 503 with plain words, and says whether a
change may have gone to Patchworks before the database went. Neither page reads the database
or shows anything of the error.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.template import loader

from deployments_ui.core.database import unreachable
from deployments_ui.core.http import write_sent

# How long a browser (or a script) is asked to wait before trying again.
RETRY_AFTER_SECONDS = 15


def server_error(request: HttpRequest) -> HttpResponse:
    """Called while the error is being handled, so `sys.exc_info()` names it."""
    if unreachable(sys.exc_info()[1]):
        return database_unavailable(request)
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    context = {
        "write_sent": write_sent(request),
        "request_id": getattr(request, "id", ""),
        "retry_after": RETRY_AFTER_SECONDS,
    }
    response = HttpResponse(loader.render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
