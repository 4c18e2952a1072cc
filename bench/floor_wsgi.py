"""The servers `bench/toggle_floor.py` puts beside the console: what the least a server in front
of Patchworks adds to an enable or disable, without the console's own work. Chosen by BENCH_FLOOR:

- `relay`: no framework: a bare WSGI function reads the deployment, writes, answers a short row;
- `framework`: the console itself (its settings, every middleware, the session, the sign-in, the
  access check, the read sent ahead, its client), but enable and disable only wait for that read,
  write, and answer a short row: no audit trail, no notifications, no page;
- `framework+commits`: the same, with two durable commits around the write (a 300-byte row each,
  in a table of its own), as the audit trail commits its attempt and its outcome.

Not the console's code path and never used by it: a measuring instrument only.
"""

from __future__ import annotations

import json
import os

MODE = os.environ.get("BENCH_FLOOR", "relay")
STATE_WORDS = {True: "enabled", False: "disabled"}
INCLUDE = "flowVersion,virtualEnvironment,package,enabledBy"  # as the console's read asks


def _relay():
    import urllib3

    base = os.environ["PATCHWORKS_BASE_URL"]
    headers = {"Authorization": os.environ["BENCH_FLOOR_KEY"], "Accept": "application/json"}
    pool = urllib3.PoolManager(maxsize=8)

    def application(environ, start_response):
        parts = environ["PATH_INFO"].strip("/").split("/")  # flow-versions/F/deployments/D/act
        flow_version, deployment, action = parts[1], parts[3], parts[4]
        path = f"{base}/api/v1/flow-versions/{flow_version}/deployments/{deployment}"
        json.loads(pool.request("GET", path, fields={"include": INCLUDE}, headers=headers).data)
        json.loads(pool.request("POST", f"{path}/{action}", headers=headers).data or b"{}")
        body = f"<tr><td>{deployment}</td><td>{action}d</td></tr>".encode()
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return application


def _framework(commits: bool):
    from django.db import connection, transaction
    from django.http import HttpResponse

    from console.wsgi import application
    from deployments_ui.accounts.credentials import api_key_for
    from deployments_ui.patchworks import transport
    from deployments_ui.views import deployment_changes

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (v TEXT)")
    connection.close()

    def commit() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_floor (v) VALUES (%s)", ["x" * 300])

    def toggle(request, flow_version, deployment, *, enabled):
        request.change_read.result()
        if commits:
            commit()
        action = "enable" if enabled else "disable"
        path = f"/flow-versions/{flow_version}/deployments/{deployment}/{action}"
        key = transport.mask(api_key_for(request.user))
        transport.send(key, "POST", path, params=None, payload=None, not_found="")
        if commits:
            commit()
        return HttpResponse(f"<tr><td>{deployment}</td><td>{STATE_WORDS[enabled]}</td></tr>")

    deployment_changes._toggle = toggle
    return application


application = _relay() if MODE == "relay" else _framework(MODE == "framework+commits")
