"""Query-string handling (filters, includes, sorts, pages) and JSON shapes for the API views.

Filter, include and sort errors copy spatie/laravel-query-builder's 400 messages; page errors
are Laravel validation failures (422).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict
from urllib.parse import urlencode

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest

from sandbox.models import Deployment, Flow, FlowVersion, Package, SandboxUser, VirtualEnvironment
from sandbox.web import MAX_ID, ApiError, validation_error

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

INCLUDES = ("enabledBy", "flowVersion", "virtualEnvironment", "package", "user")
WRITE_INCLUDES = frozenset({"flowVersion", "virtualEnvironment", "package", "enabledBy"})
DEPLOYMENT_FILTERS = (
    "package_id",
    "virtual_environment_id",
    "global",
    "flowVersion.flow",
    "name",
    "LIKE",
)
SORTS = {
    "created_at": "created_at",
    "enabled_at": "enabled_at",
    "flow_name": "flow__name",
    "flow_version_iteration": "iteration",
}
DEFAULT_PER_PAGE = 15
MAX_PER_PAGE = 100
FILTER_KEY = re.compile(r"^filter\[(.*)\]$")


# --- reading the query string -------------------------------------------------------------


def _spatie_error(kind: str, requested: Iterable[str], allowed: Iterable[str]) -> ApiError:
    verb = "is" if kind == "sort" else "are"
    return ApiError(
        400,
        f"Requested {kind}(s) `{', '.join(requested)}` {verb} not allowed. "
        f"Allowed {kind}(s) are `{', '.join(allowed)}`.",
    )


def read_filters(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, str]:
    """The non-empty filter[...] values, refusing keys that are not allowed."""
    filters: dict[str, str] = {}
    unknown: list[str] = []
    for key in request.GET:
        value = request.GET.get(key, "")
        match = FILTER_KEY.match(key)
        if not match:
            continue
        name = match.group(1)
        if name not in allowed:
            unknown.append(name)
        elif value.strip():
            filters[name] = value.strip()
    if unknown:
        raise _spatie_error("filter", unknown, allowed)
    return filters


def read_includes(request: HttpRequest) -> set[str]:
    requested = [p.strip() for p in request.GET.get("include", "").split(",") if p.strip()]
    unknown = [name for name in requested if name not in INCLUDES]
    if unknown:
        raise _spatie_error("include", unknown, INCLUDES)
    return set(requested)


def read_sort(request: HttpRequest) -> list[Any]:
    """order_by() terms for the sort parameter; id breaks ties so that pages are stable."""
    raw = request.GET.get("sort", "").strip()
    if not raw:
        return [F("created_at").desc(), F("id").desc()]
    terms: list[Any] = []
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [key for key in keys if key.lstrip("-") not in SORTS]
    if unknown:
        raise _spatie_error("sort", unknown, SORTS)
    for key in keys:
        field = F(SORTS[key.lstrip("-")])
        terms.append(
            field.desc(nulls_last=True) if key.startswith("-") else field.asc(nulls_last=True)
        )
    terms.append(F("id").desc() if keys[0].startswith("-") else F("id").asc())
    return terms


def _int_param(
    request: HttpRequest, name: str, default: int, maximum: int | None, errors: dict
) -> int:
    raw = request.GET.get(name, "").strip()
    label = name.replace("_", " ")
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        errors[name] = [f"The {label} field must be an integer."]
        return default
    value = int(raw)
    if value < 1:
        errors[name] = [f"The {label} field must be at least 1."]
    elif maximum is not None and value > maximum:
        errors[name] = [f"The {label} field must not be greater than {maximum}."]
    return value


def read_page(request: HttpRequest) -> tuple[int, int]:
    """(page, per_page), or a 422 naming each bad parameter."""
    errors: dict[str, list[str]] = {}
    page = _int_param(request, "page", 1, None, errors)
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE, errors)
    if errors:
        raise validation_error(errors)
    return page, per_page


# --- querying -------------------------------------------------------------------------------


def iteration_subquery(version_ref: str, flow_ref: str) -> Subquery:
    """A version's 1-based position among its flow's versions, computed, never stored."""
    earlier = (
        FlowVersion.objects.filter(flow_id=OuterRef(flow_ref), id__lte=OuterRef(version_ref))
        .order_by()
        .values("flow_id")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )
    return Subquery(earlier, output_field=IntegerField())


class _Iteration(TypedDict):
    iteration: int


if TYPE_CHECKING:
    # Deployments and flow versions read with their version number (`deployments()`,
    # `flow_versions()`).
    NumberedDeployment: TypeAlias = WithAnnotations[Deployment, _Iteration]
    NumberedVersion: TypeAlias = WithAnnotations[FlowVersion, _Iteration]


def deployments() -> QuerySet[NumberedDeployment]:
    return Deployment.objects.select_related(
        "flow_version", "flow", "flow__package", "virtual_environment", "enabled_by", "user"
    ).annotate(iteration=iteration_subquery("flow_version_id", "flow_id"))


def flow_versions() -> QuerySet[NumberedVersion]:
    return FlowVersion.objects.select_related("flow").annotate(
        iteration=iteration_subquery("id", "flow_id")
    )


def _ids(value: str) -> list[int]:
    # Non-numeric ids match nothing, as an exact filter on an integer column would.
    parts = [part.strip() for part in value.split(",")]
    return [int(p) for p in parts if p.isascii() and p.isdigit() and int(p) <= MAX_ID]


def truthy(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "true"}:
        return True
    if lowered in {"0", "false"}:
        return False
    raise ApiError(400, f"The {name} filter must be one of 1, 0, true, false.")


def _global_filter(value: str) -> Q:
    if truthy(value, "global"):
        return Q(virtual_environment__isnull=True)
    return Q(virtual_environment__isnull=False)


def filter_deployments(qs: QuerySet[Deployment], filters: dict[str, str]) -> QuerySet[Deployment]:
    if "package_id" in filters:
        qs = qs.filter(flow__package_id__in=_ids(filters["package_id"]))
    if "virtual_environment_id" in filters:
        qs = qs.filter(virtual_environment_id__in=_ids(filters["virtual_environment_id"]))
    if "flowVersion.flow" in filters:
        qs = qs.filter(flow_id__in=_ids(filters["flowVersion.flow"]))
    if "name" in filters:
        qs = qs.filter(flow__name__in=[n.strip() for n in filters["name"].split(",")])
    if "global" in filters:
        qs = qs.filter(_global_filter(filters["global"]))
    if "LIKE" in filters:
        qs = qs.filter(flow__name__icontains=filters["LIKE"])
    return qs


def filter_by_name(qs: QuerySet, filters: dict[str, str]) -> QuerySet:
    if "name" in filters:
        qs = qs.filter(name__icontains=filters["name"])
    return qs


# --- JSON shapes ----------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """Laravel's timestamp format: UTC, microseconds, Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user_json(user: SandboxUser | None) -> dict | None:
    if user is None:
        return None
    return {"id": user.id, "name": user.name, "email": user.email}


def environment_json(env: VirtualEnvironment | None) -> dict | None:
    if env is None:
        return None
    return {"id": env.id, "name": env.name, "type": env.type}


def package_json(package: Package | None) -> dict | None:
    if package is None:
        return None
    return {"id": package.id, "name": package.name}


def flow_json(flow: Flow) -> dict:
    return {"id": flow.id, "name": flow.name, "priority": flow.priority}


def version_json(version: FlowVersion, iteration: int, flow: Flow | None = None) -> dict:
    """A flow version; with `flow`, nested as the flowVersion include has it."""
    data: dict[str, Any] = {
        "id": version.id,
        "flow_id": version.flow_id,
        "iteration": iteration,
        "status": version.status,
    }
    if flow is not None:
        data["flow"] = flow_json(flow)
    return data


def deployment_json(d: NumberedDeployment, includes: set[str] | frozenset[str]) -> dict:
    """A deployment as Patchworks' API resource: base fields, then the requested relations."""
    data: dict[str, Any] = {
        "id": d.id,
        "flow_version_id": d.flow_version_id,
        "virtual_environment_id": d.virtual_environment_id,
        "package_id": d.flow.package_id,
        "priority": d.priority,
        "enabled_at": iso(d.enabled_at),
        "enabled_by": d.enabled_by_id,
        "user_id": d.user_id,
        "name": d.flow.name,
        "global": d.virtual_environment_id is None,
        "flow_version_iteration": d.iteration,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }
    relations: dict[str, Callable[[], Any]] = {
        "flowVersion": lambda: version_json(d.flow_version, d.iteration, d.flow),
        "virtualEnvironment": lambda: environment_json(d.virtual_environment),
        "package": lambda: package_json(d.flow.package),
        "enabledBy": lambda: user_json(d.enabled_by),
        "user": lambda: user_json(d.user),
    }
    for name in INCLUDES:
        if name in includes:
            data[name] = relations[name]()
    return data


def paginate(
    request: HttpRequest,
    qs: QuerySet | Sequence,
    page: int,
    per_page: int,
    serialize: Callable[[Any], dict | None],
) -> dict:
    """Laravel's paginator envelope; links keep the query string, with the page last."""
    total = qs.count() if isinstance(qs, QuerySet) else len(qs)
    last_page = max(1, math.ceil(total / per_page))
    offset = (page - 1) * per_page
    items = [serialize(item) for item in qs[offset : offset + per_page]] if offset < total else []
    path = request.build_absolute_uri(request.path)
    kept = [(k, v) for k, values in request.GET.lists() if k != "page" for v in values]

    def url(number: int) -> str:
        return f"{path}?{urlencode([*kept, ('page', number)])}"

    return {
        "data": items,
        "links": {
            "first": url(1),
            "last": url(last_page),
            "prev": url(page - 1) if page > 1 else None,
            "next": url(page + 1) if page < last_page else None,
        },
        "meta": {
            "current_page": page,
            "from": offset + 1 if items else None,
            "last_page": last_page,
            "path": path,
            "per_page": per_page,
            "to": offset + len(items) if items else None,
            "total": total,
        },
    }
