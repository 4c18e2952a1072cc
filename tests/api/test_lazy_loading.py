"""The API's libraries load with its first request, not in a worker that only serves pages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, django
django.setup()
from django.test import Client
from django.urls import resolve, reverse
client = Client(HTTP_HOST="localhost")
for path in ("/deployments/", "/account/tokens/", "/audit/"):
    reverse(resolve(path).url_name)
try:
    resolve("/no/such/page/")
except Exception:
    pass
print("pages", "ninja" in sys.modules, "pydantic" in sys.modules)
print("reverse", reverse("api:audit-event", args=(7,)))
answer = client.get("/api/v1/audit")
print("api", answer.status_code, "ninja" in sys.modules)
"""


def test_pages_never_load_the_api_and_its_first_request_does():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [
        line
        for line in result.stdout.splitlines()
        if line.split()[0] in ("pages", "reverse", "api")
    ]
    assert lines == [
        "pages False False",
        "reverse /api/v1/audit/7",
        "api 401 True",
    ], result.stderr[-2000:]
