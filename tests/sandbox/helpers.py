"""Shared helpers for the sandbox contract tests: a small OpenAPI schema check and demo lookups.

The schema check covers what our contract file uses ($ref, allOf, nullable, type, required,
properties, items, enum, minimum, maximum, date-time) so that no extra dependency is needed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.sandbox_fixtures import SandboxServer

OPENAPI = Path(__file__).resolve().parents[2] / "sandbox" / "openapi.yaml"
DEPLOYMENTS = "/api/v1/flow-version-deployments"
ALL_INCLUDES = "enabledBy,flowVersion,virtualEnvironment,package,user"
BASE_FIELDS = {
    "id",
    "flow_version_id",
    "virtual_environment_id",
    "package_id",
    "priority",
    "enabled_at",
    "enabled_by",
    "user_id",
    "name",
    "global",
    "flow_version_iteration",
    "created_at",
    "updated_at",
}
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@cache
def _spec() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def _resolve(ref: str) -> dict:
    node: Any = _spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"{value} has no offset"
    return moment


def _type_ok(instance: Any, name: str) -> bool:
    if isinstance(instance, bool) and name in {"integer", "number"}:
        return False
    return isinstance(instance, TYPES[name])


def _check(instance: Any, schema: dict, where: str, errors: list[str]) -> None:
    if "$ref" in schema:
        schema = _resolve(schema["$ref"])
    if instance is None:
        if not schema.get("nullable") and ("type" in schema or "allOf" in schema):
            errors.append(f"{where}: null is not allowed")
        return
    for part in schema.get("allOf", []):
        _check(instance, part, where, errors)
    kind = schema.get("type")
    if kind and not _type_ok(instance, kind):
        errors.append(f"{where}: expected {kind}, got {type(instance).__name__}")
        return
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} not in {schema['enum']}")
    if "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{where}: {instance} < {schema['minimum']}")
    if "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{where}: {instance} > {schema['maximum']}")
    if schema.get("format") == "date-time":
        try:
            parse_time(instance)
        except (ValueError, AssertionError) as error:
            errors.append(f"{where}: {error}")
    for name in schema.get("required", []):
        if name not in instance:
            errors.append(f"{where}: missing {name}")
    for name, sub in schema.get("properties", {}).items():
        if isinstance(instance, dict) and name in instance:
            _check(instance[name], sub, f"{where}.{name}", errors)
    if isinstance(schema.get("additionalProperties"), dict):
        for name, value in instance.items():
            _check(value, schema["additionalProperties"], f"{where}.{name}", errors)
    if "items" in schema:
        for index, item in enumerate(instance):
            _check(item, schema["items"], f"{where}[{index}]", errors)


def assert_schema(instance: Any, name: str) -> None:
    """Check against components/schemas/<name>, or components/responses/<name>'s JSON body."""
    schemas = _spec()["components"]
    if name in schemas["schemas"]:
        schema = schemas["schemas"][name]
    else:
        schema = schemas["responses"][name]["content"]["application/json"]["schema"]
    errors: list[str] = []
    _check(instance, schema, name, errors)
    assert not errors, "\n".join(errors)


# --- demo data lookups -----------------------------------------------------------------------


def all_pages(sandbox: SandboxServer, path: str, **params: Any) -> list[dict]:
    """Every item of a paginated list, 100 at a time."""
    items: list[dict] = []
    page = 1
    while True:
        response = sandbox.api("GET", path, params={**params, "per_page": 100, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        if body["links"]["next"] is None:
            return items
        page += 1


def all_deployments(sandbox: SandboxServer, **params: Any) -> list[dict]:
    params.setdefault("include", "flowVersion")
    return all_pages(sandbox, DEPLOYMENTS, **params)


def flow_versions(sandbox: SandboxServer, flow_id: int) -> list[dict]:
    return all_pages(sandbox, f"/api/v1/flows/{flow_id}/versions")


def deployment_url(deployment: dict, suffix: str = "") -> str:
    version = deployment["flow_version_id"]
    return f"/api/v1/flow-versions/{version}/deployments/{deployment['id']}{suffix}"


def first_deployment(sandbox: SandboxServer, **params: Any) -> dict:
    """The first deployment of the list for these query parameters (filter[...] spelled out)."""
    response = sandbox.api("GET", DEPLOYMENTS, params={"include": "flowVersion", **params})
    assert response.status_code == 200, response.text
    return response.json()["data"][0]


def enabled_one(sandbox: SandboxServer) -> dict:
    """An enabled deployment in an environment (nulls sort last either way)."""
    return first_deployment(sandbox, sort="-enabled_at", **{"filter[global]": "0"})


def disabled_one(sandbox: SandboxServer) -> dict:
    total = sandbox.api("GET", DEPLOYMENTS).json()["meta"]["total"]
    found = first_deployment(sandbox, sort="enabled_at", per_page=1, page=total)
    assert found["enabled_at"] is None
    return found


def environment_ids(sandbox: SandboxServer) -> set[int]:
    path = "/api/v1/flow-version-deployments/virtual-environments"
    return {env["id"] for env in all_pages(sandbox, path)}


def movable(sandbox: SandboxServer) -> tuple[dict, int]:
    """A deployment in an environment, and another environment its flow is not deployed in."""
    environments = environment_ids(sandbox)
    for flow in range(1, 40):
        deployments = all_deployments(sandbox, **{"filter[flowVersion.flow]": flow})
        free = sorted(environments - {d["virtual_environment_id"] for d in deployments})
        placed = [d for d in deployments if not d["global"]]
        if free and placed:
            return placed[0], free[0]
    raise AssertionError("the demo data has no free environment slot")


def free_slot(sandbox: SandboxServer) -> tuple[int, int]:
    """(flow_version_id, virtual_environment_id) where that flow has no deployment yet."""
    deployment, env = movable(sandbox)
    return deployment["flow_version_id"], env


def flow_without_global(sandbox: SandboxServer) -> int:
    """A flow version whose flow has deployments but no global one."""
    with_global = {
        d["flowVersion"]["flow_id"] for d in all_deployments(sandbox, **{"filter[global]": "1"})
    }
    page = sandbox.api("GET", DEPLOYMENTS, params={"include": "flowVersion", "per_page": 100})
    for d in page.json()["data"]:
        if d["flowVersion"]["flow_id"] not in with_global:
            return d["flow_version_id"]
    raise AssertionError("every deployed flow has a global deployment")


def sibling_in_other_environment(sandbox: SandboxServer) -> tuple[dict, dict]:
    """Two deployments of one flow, each in an environment."""
    d = first_deployment(sandbox, **{"filter[global]": "0"})
    flow = d["flowVersion"]["flow_id"]
    others = all_deployments(sandbox, **{"filter[flowVersion.flow]": flow, "filter[global]": "0"})
    return d, next(s for s in others if s["id"] != d["id"])


def other_version(sandbox: SandboxServer, deployment: dict) -> int:
    """Another version of the deployment's flow."""
    flow_id = deployment["flowVersion"]["flow_id"]
    ids = [v["id"] for v in flow_versions(sandbox, flow_id)]
    return next(i for i in ids if i != deployment["flow_version_id"])
