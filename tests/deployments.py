"""Helpers for the deployment page tests: find demo deployments in the live sandbox."""

from __future__ import annotations

import json

INCLUDE = "include=flowVersion,virtualEnvironment,package,enabledBy"


def sandbox_deployments(sandbox, query: str = "", key: str = "sandbox-demo-key") -> list[dict]:
    response = sandbox.api(
        "GET", f"/api/v1/flow-version-deployments?{INCLUDE}&per_page=100&{query}", key=key
    )
    response.raise_for_status()
    return response.json()["data"]


def find_deployment(sandbox, *, enabled: bool, live: bool | None = None) -> dict:
    """A demo deployment in the given state (and, if asked, in a live or test environment)."""
    for item in sandbox_deployments(sandbox, "filter[global]=0"):
        environment = item.get("virtualEnvironment") or {}
        if bool(item["enabled_at"]) != enabled:
            continue
        if live is not None and (environment.get("type") == "live") != live:
            continue
        return item
    raise AssertionError("the demo data has no such deployment")


def deployment_url(item: dict, suffix: str = "") -> str:
    return f"/flow-versions/{item['flow_version_id']}/deployments/{item['id']}/{suffix}"


def read_back(sandbox, item: dict) -> dict:
    response = sandbox.api(
        "GET", f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}?{INCLUDE}"
    )
    return response.json()["data"] if response.status_code == 200 else {}


def api_writes(sandbox) -> list[dict]:
    return [entry for entry in sandbox.requests() if entry["method"] != "GET"]


def toast_of(response) -> dict:
    """The toast an htmx answer asks the page to show (`HX-Trigger: console:toast`)."""
    return json.loads(response["HX-Trigger"])["console:toast"]


def seen_by_the_access_check(monkeypatch, started: str) -> list[object]:
    """What the access check finds started on each request (`request.<started>`), as it runs."""
    from deployments_ui.accounts import access

    seen: list[object] = []
    check = access.AccessMiddleware.process_view

    def watching(self, request, *args):
        seen.append(getattr(request, started, None))
        return check(self, request, *args)

    monkeypatch.setattr(access.AccessMiddleware, "process_view", watching)
    return seen
