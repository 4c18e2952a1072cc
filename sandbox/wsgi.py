"""WSGI entry point: gunicorn sandbox.wsgi -b 127.0.0.1:8001 --threads 8 --workers 1."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

# Forced, not defaulted: a DJANGO_SETTINGS_MODULE meant for the console must not leak in.
os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"

application = get_wsgi_application()
