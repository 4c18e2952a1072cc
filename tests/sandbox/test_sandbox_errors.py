"""The key check, and error statuses and bodies in Laravel's shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.helpers import DEPLOYMENTS, assert_schema, deployment_url, first_deployment

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("key", [None, "", "not-a-key", "Bearer sandbox-demo-key"])
def test_it_answers_401_without_a_known_raw_key(sandbox, key):
    response = sandbox.api("GET", DEPLOYMENTS, key=key)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}


def test_it_checks_the_key_on_every_endpoint(sandbox):
    d = first_deployment(sandbox)
    calls = [
        ("GET", f"/api/v1/flow-versions/{d['flow_version_id']}/deployments"),
        ("POST", f"/api/v1/flow-versions/{d['flow_version_id']}/deployments"),
        ("GET", deployment_url(d)),
        ("PUT", deployment_url(d)),
        ("DELETE", deployment_url(d)),
        ("POST", deployment_url(d, "/enable")),
        ("POST", deployment_url(d, "/disable")),
    ]
    for method, path in calls:
        assert sandbox.api(method, path, key="wrong", json={}).status_code == 401, (method, path)
    assert sandbox.api("GET", deployment_url(d)).status_code == 200, "nothing was deleted"


@pytest.mark.parametrize(
    "key",
    ["sandbox-demo-key", "sandbox-key-viewer", "sandbox-key-service", "sandbox-key-dashboard"],
)
def test_it_accepts_each_demo_key(sandbox, key):
    assert sandbox.api("GET", DEPLOYMENTS, key=key, params={"per_page": 1}).status_code == 200


def test_it_answers_404_as_json_for_an_unknown_route(sandbox):
    response = sandbox.api("GET", "/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert_schema(response.json(), "Message")


def test_it_does_not_add_trailing_slashes(sandbox):
    assert sandbox.api("GET", f"{DEPLOYMENTS}/").status_code == 404


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", DEPLOYMENTS),
        ("DELETE", DEPLOYMENTS),
        ("PATCH", "/api/v1/flow-versions/1/deployments/1"),
        ("PUT", "/api/v1/flow-versions/1/deployments"),
        ("POST", "/api/v1/flows"),
    ],
)
def test_it_answers_405_as_json_for_a_wrong_method(sandbox, method, path):
    response = sandbox.api(method, path, json={})
    assert response.status_code == 405
    assert "Allow" in response.headers
    assert "not supported" in response.json()["message"]


def test_it_matches_the_method_before_checking_the_key(sandbox):
    assert sandbox.api("PATCH", DEPLOYMENTS, key=None).status_code == 405


def test_it_needs_no_csrf_token_for_writes(sandbox):
    d = first_deployment(sandbox)
    response = sandbox.api("POST", deployment_url(d, "/disable"), headers={"Origin": "http://x"})
    assert response.status_code == 200


def test_it_leaves_out_the_control_endpoints_when_control_is_disabled():
    script = (
        "import django; django.setup(); from sandbox import urls; "
        "print(any('__sandbox__' in str(p.pattern) for p in urls.urlpatterns))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
        "SANDBOX_CONTROL_ENABLED": "false",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr
