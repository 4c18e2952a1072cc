"""The OpenAPI document: served, valid against the specification, and every route it documents
exercised here, each answer's status documented and its body matching the documented schema."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import AuditEvent
from tests.api.helpers import Api, token_for
from tests.deployments import find_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["info"]["title"] == "Deployments Console API"
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def operations(document: dict) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    )


def later() -> str:
    return (timezone.now() + timedelta(hours=3)).isoformat(timespec="minutes")


def test_every_documented_route_is_exercised_and_answers_as_documented(
    client, operator, on_sandbox, document
):
    api = Api(client, token_for(operator))
    test_item = find_deployment(on_sandbox, enabled=True, live=False)
    other = find_deployment(on_sandbox, enabled=False)
    ids = {"flow_version": test_item["flow_version_id"], "deployment": test_item["id"]}
    calls = {
        ("GET", "/api/v1/deployments"): lambda: api.get("/deployments", {"per_page": 10}),
        ("GET", "/api/v1/deployments/{flow_version}/{deployment}"): lambda: api.get(
            "/deployments/{flow_version}/{deployment}".format(**ids)
        ),
        ("POST", "/api/v1/deployments/{flow_version}/{deployment}/disable"): lambda: api.post(
            "/deployments/{flow_version}/{deployment}/disable".format(**ids), {"reason": "r"}
        ),
        ("POST", "/api/v1/deployments/{flow_version}/{deployment}/enable"): lambda: api.post(
            f"/deployments/{other['flow_version_id']}/{other['id']}/enable", {"reason": "r"}
        ),
        ("POST", "/api/v1/deployments/{flow_version}/{deployment}/schedule"): lambda: api.post(
            "/deployments/{flow_version}/{deployment}/schedule".format(**ids),
            {"action": "enable", "at": later(), "reason": "r"},
        ),
        (
            "POST",
            "/api/v1/deployments/{flow_version}/{deployment}/approval-requests",
        ): lambda: api.post(
            "/deployments/{flow_version}/{deployment}/approval-requests".format(**ids),
            {"action": "enable", "reason": "r"},
        ),
        ("GET", "/api/v1/change-requests/{number}"): lambda: api.get(
            f"/change-requests/{ChangeRequest.objects.latest('pk').pk}"
        ),
        ("GET", "/api/v1/audit"): lambda: api.get("/audit", {"action": "disable"}),
        ("GET", "/api/v1/audit/{event}"): lambda: api.get(
            f"/audit/{AuditEvent.objects.latest('pk').pk}"
        ),
    }
    assert sorted(calls) == operations(document)
    for (method, path), call in calls.items():  # in this order: each builds on the one before
        response = call()
        documented = document["paths"][path][method.lower()]["responses"]
        assert str(response.status_code) in documented, (method, path, response.content)
        assert response.status_code < 300, (method, path, response.content)
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        check(document, schema, response.json())


def test_refusals_answer_in_the_documented_problem_shape(client, operator, on_sandbox, document):
    api = Api(client, token_for(operator))
    item = find_deployment(on_sandbox, enabled=True, live=True)
    path = "/api/v1/deployments/{flow_version}/{deployment}/disable"
    response = api.post(f"/deployments/{item['flow_version_id']}/{item['id']}/disable", {})
    assert response.status_code == 400
    documented = document["paths"][path]["post"]["responses"]["400"]
    check(document, documented["content"]["application/json"]["schema"], response.json())


def check(document: dict, schema: dict, body: object) -> None:
    """Validate `body` against `schema`, its references resolved in the document."""
    root = {**schema, "components": document["components"]}
    errors = list(Draft202012Validator(root).iter_errors(json.loads(json.dumps(body))))
    assert not errors, [error.message for error in errors]
