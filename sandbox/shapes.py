"""The response shapes the sandbox can answer in, since Patchworks does not publish its own.

- `flat-camel`: our first reading of the contract: flat objects, camelCase relations, the flow
  nested in the flow version, a top-level `name` and `flow_version_iteration`.
- `flat-snake`: what the neighbouring published schemas point to: snake_case relations, no
  nested flow and no flow name, a top-level `iteration`; flow-version list items without
  `iteration` or `flow_id`; flows without `priority`.
- `jsonapi`: what Patchworks' own Python client reads: `data` resources with `type`,
  `attributes` and `relationships`, related records in `included[]`, errors as `errors[]` with
  `source.pointer`. No flow name, no version number: the console works them out.
- `bodyless-writes`: flat-camel reads, but writes answer without the resource: enable 204,
  disable and update `{"message"}`, create 201 `{"message"}`, delete 204.

The shape comes from SANDBOX_RESPONSE_SHAPE, or from /__sandbox__/shape while it is set there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from sandbox import queries
from sandbox.models import Deployment, FlowVersion, Package, SandboxState, SandboxUser
from sandbox.models import VirtualEnvironment as Environment

FLAT_CAMEL = "flat-camel"
FLAT_SNAKE = "flat-snake"
JSONAPI = "jsonapi"
BODYLESS_WRITES = "bodyless-writes"
SHAPES = (FLAT_CAMEL, FLAT_SNAKE, JSONAPI, BODYLESS_WRITES)


def current() -> str:
    stored = SandboxState.objects.filter(pk=1).values_list("response_shape", flat=True).first()
    return stored or settings.SANDBOX_RESPONSE_SHAPE


def store(shape: str | None) -> None:
    """Set the shape for every worker (None or "": back to the setting)."""
    SandboxState.objects.update_or_create(pk=1, defaults={"response_shape": shape or ""})


# Single deployments and pages -----------------------------------------------------------------


def one(
    deployment: queries.AnnotatedDeployment, includes: set[str] | frozenset[str], shape: str
) -> JsonResponse:
    if shape == JSONAPI:
        included: dict[tuple[str, str], dict] = {}
        data = _deployment_resource(deployment, includes, included)
        return JsonResponse({"data": data, "included": list(included.values())})
    return JsonResponse({"data": deployment_item(deployment, includes, shape)})


def deployment_item(
    d: queries.AnnotatedDeployment, includes: set[str] | frozenset[str], shape: str
) -> dict:
    if shape == FLAT_SNAKE:
        return _deployment_snake(d, includes)
    return queries.deployment_json(d, includes)


def page(request, qs, number: int, per_page: int, includes, shape: str) -> dict:
    """A page of deployments in the shape, in Laravel's paginator envelope."""
    if shape != JSONAPI:
        return queries.paginate(
            request, qs, number, per_page, lambda d: deployment_item(d, includes, shape)
        )
    included: dict[tuple[str, str], dict] = {}
    body = queries.paginate(
        request, qs, number, per_page, lambda d: _deployment_resource(d, includes, included)
    )
    return {**body, "included": list(included.values())}


def picker_item(kind: str, shape: str) -> Callable[[Any], dict | None]:
    """The serializer for a picker list's items (environments, packages, flows)."""

    def flat(item: Any) -> dict | None:
        if kind == "virtual-environments":
            return queries.environment_json(item)
        if kind == "flows":
            data = queries.flow_json(item)
            if shape == FLAT_SNAKE:
                data.pop("priority")
            return data
        return _package(item)

    if shape != JSONAPI:
        return flat
    return lambda item: _resource(kind, item.id, _attributes(flat(item)))


def version_item(shape: str) -> Callable[[queries.AnnotatedVersion], dict]:
    if shape == JSONAPI:
        return _version_resource
    if shape == FLAT_SNAKE:
        return lambda v: {"id": v.id, "status": v.status, "created_at": queries.iso(v.created_at)}
    return lambda v: queries.version_json(v, v.iteration)


# Writes ---------------------------------------------------------------------------------------


def written(
    deployment: queries.AnnotatedDeployment,
    includes: set[str] | frozenset[str],
    shape: str,
    action: str,
) -> HttpResponse:
    """The answer to a successful write."""
    if shape != BODYLESS_WRITES:
        response = one(deployment, includes, shape)
        if action == "create":
            response.status_code = 201 if shape == JSONAPI else 200
        return response
    if action == "enable":
        return HttpResponse(status=204)
    messages = {
        "create": "Deployment created.",
        "update": "Deployment updated.",
        "disable": "Deployment disabled.",
    }
    return JsonResponse({"message": messages[action]}, status=201 if action == "create" else 200)


def deleted(shape: str) -> HttpResponse:
    if shape == BODYLESS_WRITES:
        return HttpResponse(status=204)
    return JsonResponse({"message": "Deployment deleted."})


def error_body(status: int, message: str, errors: dict[str, list[str]] | None) -> dict:
    """An error as JSON:API's errors[]; field errors point at their attribute."""
    if not errors:
        return {"errors": [{"status": str(status), "title": message, "detail": message}]}
    return {
        "errors": [
            {
                "status": str(status),
                "title": "Unprocessable Entity",
                "detail": text,
                "source": {"pointer": f"/data/attributes/{field}"},
            }
            for field, texts in errors.items()
            for text in texts
        ]
    }


# flat-snake -----------------------------------------------------------------------------------


def _deployment_snake(d: queries.AnnotatedDeployment, includes: set[str] | frozenset[str]) -> dict:
    data: dict[str, Any] = {
        "id": d.id,
        "flow_version_id": d.flow_version_id,
        "virtual_environment_id": d.virtual_environment_id,
        "package_id": d.flow.package_id,
        "priority": d.priority,
        "enabled_at": queries.iso(d.enabled_at),
        "enabled_by_id": d.enabled_by_id,
        "user_id": d.user_id,
        "global": d.virtual_environment_id is None,
        "iteration": d.iteration,
        "created_at": queries.iso(d.created_at),
        "updated_at": queries.iso(d.updated_at),
    }
    relations: dict[str, tuple[str, Callable[[], Any]]] = {
        "flowVersion": (
            "flow_version",
            lambda: {
                "id": d.flow_version_id,
                "flow_id": d.flow_id,
                "status": d.flow_version.status,
            },
        ),
        "virtualEnvironment": (
            "virtual_environment",
            lambda: queries.environment_json(d.virtual_environment),
        ),
        "package": ("package", lambda: _package(d.flow.package)),
        "enabledBy": ("enabled_by", lambda: queries.user_json(d.enabled_by)),
        "user": ("user", lambda: queries.user_json(d.user)),
    }
    for name, (key, value) in relations.items():
        if name in includes:
            data[key] = value()
    return data


# jsonapi --------------------------------------------------------------------------------------


def _resource(kind: str, ident: int, attributes: dict, relationships: dict | None = None) -> dict:
    resource: dict[str, Any] = {"type": kind, "id": str(ident), "attributes": attributes}
    if relationships is not None:
        resource["relationships"] = relationships
    return resource


def _attributes(flat: dict | None) -> dict:
    return {k: v for k, v in (flat or {}).items() if k != "id"}


def _identifier(kind: str, obj: Any) -> dict:
    return {"data": {"type": kind, "id": str(obj.id)} if obj is not None else None}


def _version_resource(version: FlowVersion) -> dict:
    # Published flow-version items carry no iteration; the flow is a relationship only.
    attributes = {"status": version.status, "created_at": queries.iso(version.created_at)}
    relationships = {"flow": {"data": {"type": "flows", "id": str(version.flow_id)}}}
    return _resource("flow-versions", version.id, attributes, relationships)


def _user_resource(user: SandboxUser) -> dict:
    return _resource("users", user.id, {"name": user.name, "email": user.email})


def _deployment_resource(
    d: Deployment, includes: set[str] | frozenset[str], included: dict[tuple[str, str], dict]
) -> dict:
    attributes = {
        "priority": d.priority,
        "enabled_at": queries.iso(d.enabled_at),
        "global": d.virtual_environment_id is None,
        "created_at": queries.iso(d.created_at),
        "updated_at": queries.iso(d.updated_at),
    }
    package = d.flow.package
    related: dict[str, tuple[str, Any, Callable[[Any], dict]]] = {
        "flowVersion": ("flow-versions", d.flow_version, _version_resource),
        "virtualEnvironment": (
            "virtual-environments",
            d.virtual_environment,
            lambda env: _resource("virtual-environments", env.id, _environment(env)),
        ),
        "package": ("packages", package, lambda p: _resource("packages", p.id, {"name": p.name})),
        "enabledBy": ("users", d.enabled_by, _user_resource),
        "user": ("users", d.user, _user_resource),
    }
    relationships = {}
    for name, (kind, obj, build) in related.items():
        relationships[name] = _identifier(kind, obj)
        if name in includes and obj is not None:
            included.setdefault((kind, str(obj.id)), build(obj))
    return _resource("flow-version-deployments", d.id, attributes, relationships)


def _environment(env: Environment) -> dict:
    return {"name": env.name, "type": env.type}


def _package(package: Package | None) -> dict | None:
    return queries.package_json(package)
