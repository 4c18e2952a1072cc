"""The Patchworks API stand-in: the eight deployment endpoints and the picker lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse

from sandbox import queries, shapes, writes
from sandbox.models import Deployment, Flow, FlowVersion, Package, VirtualEnvironment
from sandbox.web import SandboxRequest, api_view, json_body, not_found, parse_id


def _flow_version(raw: str) -> FlowVersion:
    version = FlowVersion.objects.filter(pk=parse_id(raw, "FlowVersion")).first()
    if version is None:
        raise not_found("FlowVersion", raw)
    return version


def _deployment(version_raw: str, deployment_raw: str) -> Deployment:
    """The deployment, scoped to its flow version as Laravel's scoped bindings are."""
    version = _flow_version(version_raw)
    ident = parse_id(deployment_raw, "FlowVersionDeployment")
    deployment = queries.deployments().filter(pk=ident, flow_version=version).first()
    if deployment is None:
        raise not_found("FlowVersionDeployment", deployment_raw)
    return deployment


def _one(deployment_id: int, includes: set[str] | frozenset[str]) -> JsonResponse:
    fresh = queries.deployments().get(pk=deployment_id)
    return shapes.one(fresh, includes, shapes.current())


def _written(deployment_id: int, includes: set[str] | frozenset[str], action: str) -> HttpResponse:
    fresh = queries.deployments().get(pk=deployment_id)
    return shapes.written(fresh, includes, shapes.current(), action)


def _write_includes(request: HttpRequest) -> set[str]:
    return set(queries.WRITE_INCLUDES) | queries.read_includes(request)


@api_view("GET")
def deployment_list(request: HttpRequest) -> JsonResponse:
    filters = queries.read_filters(request, queries.DEPLOYMENT_FILTERS)
    includes = queries.read_includes(request)
    order = queries.read_sort(request)
    page, per_page = queries.read_page(request)
    qs = queries.filter_deployments(queries.deployments(), filters).order_by(*order)
    return JsonResponse(shapes.page(request, qs, page, per_page, includes, shapes.current()))


@api_view("GET", "POST")
def flow_version_deployments(request: SandboxRequest, flow_version: str) -> HttpResponse:
    version = _flow_version(flow_version)
    if request.method == "POST":
        includes = _write_includes(request)
        created = writes.create_deployment(version, json_body(request), request.sandbox_user)
        return _written(created.id, includes, "create")
    includes = queries.read_includes(request)
    page, per_page = queries.read_page(request)
    qs = queries.deployments().filter(flow_version=version).order_by("-created_at", "-id")
    return JsonResponse(shapes.page(request, qs, page, per_page, includes, shapes.current()))


@api_view("GET", "PUT", "DELETE")
def deployment_detail(request: SandboxRequest, flow_version: str, deployment: str) -> HttpResponse:
    found = _deployment(flow_version, deployment)
    if request.method == "DELETE":
        found.delete()
        return shapes.deleted(shapes.current())
    if request.method == "PUT":
        includes = _write_includes(request)
        writes.update_deployment(found, json_body(request), request.sandbox_user)
        return _written(found.id, includes, "update")
    return _one(found.id, queries.read_includes(request))


@api_view("POST")
def deployment_enable(request: SandboxRequest, flow_version: str, deployment: str) -> HttpResponse:
    found = _deployment(flow_version, deployment)
    includes = _write_includes(request)
    writes.set_enabled(found, True, request.sandbox_user)
    return _written(found.id, includes, "enable")


@api_view("POST")
def deployment_disable(request: SandboxRequest, flow_version: str, deployment: str) -> HttpResponse:
    found = _deployment(flow_version, deployment)
    includes = _write_includes(request)
    writes.set_enabled(found, False, request.sandbox_user)
    return _written(found.id, includes, "disable")


# --- pickers ---------------------------------------------------------------------------------


def _picker(
    request: HttpRequest,
    qs: QuerySet,
    serialize: Callable[[Any], dict | None],
    allowed: tuple[str, ...] = ("name",),
) -> JsonResponse:
    filters = queries.read_filters(request, allowed)
    page, per_page = queries.read_page(request)
    qs = queries.filter_by_name(qs, filters)
    if "type" in filters:
        qs = qs.filter(type__in=[t.strip().lower() for t in filters["type"].split(",")])
    if "hasDeployedVersion" in filters:
        enabled = Deployment.objects.filter(enabled_at__isnull=False)
        used = enabled.values("virtual_environment_id")
        wanted = queries.truthy(filters["hasDeployedVersion"], "hasDeployedVersion")
        qs = qs.filter(id__in=used) if wanted else qs.exclude(id__in=used)
    return JsonResponse(queries.paginate(request, qs, page, per_page, serialize))


# The virtual-environment filters Patchworks publishes. `status` and `labelled` are accepted
# and ignored: the sandbox's environments are all active and unlabelled.
ENVIRONMENT_FILTERS = ("name", "type", "status", "hasDeployedVersion", "labelled")


@api_view("GET")
def environment_list(request: HttpRequest) -> JsonResponse:
    """Virtual environments that have at least one deployment."""
    used = Deployment.objects.values("virtual_environment_id")
    qs = VirtualEnvironment.objects.filter(id__in=used).order_by("name", "id")
    serialize = shapes.picker_item("virtual-environments", shapes.current())
    return _picker(request, qs, serialize, ENVIRONMENT_FILTERS)


@api_view("GET")
def package_list(request: HttpRequest) -> JsonResponse:
    """Packages with at least one flow deployed to a virtual environment."""
    used = Deployment.objects.filter(virtual_environment__isnull=False).values("flow__package_id")
    qs = Package.objects.filter(id__in=used).order_by("name", "id")
    return _picker(request, qs, shapes.picker_item("packages", shapes.current()))


@api_view("GET")
def flow_list(request: HttpRequest) -> JsonResponse:
    serialize = shapes.picker_item("flows", shapes.current())
    return _picker(request, Flow.objects.order_by("name", "id"), serialize)


@api_view("GET")
def flow_version_list(request: HttpRequest, flow: str) -> JsonResponse:
    found = Flow.objects.filter(pk=parse_id(flow, "Flow")).first()
    if found is None:
        raise not_found("Flow", flow)
    page, per_page = queries.read_page(request)
    qs = queries.flow_versions().filter(flow=found).order_by("id")
    body = queries.paginate(request, qs, page, per_page, shapes.version_item(shapes.current()))
    return JsonResponse(body)
