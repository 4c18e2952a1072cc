"""The flow-run endpoints: the runs list and one run's logs, in every response shape.

Published: `GET /api/v1/flow-runs` (`page`, `per_page`, `sort`, `include`, `filter[status]`,
`filter[started_after]`) and `GET /api/v1/flow-runs/{id}/flow-run-logs`, answering
`data[].attributes` with `status`, `started_at`, `finished_at`, `flow_id`, `flow_version_id`
(logs: `log_level`, `log_message`, `flow_step_id`). The flat shapes are our reading; flat-camel
also names the run's environment, which Patchworks does not publish (flat-snake and jsonapi
keep to what is published), so that the console is tried both with and without it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime

from sandbox import queries, runs, shapes
from sandbox.models import Flow, FlowVersion
from sandbox.web import api_view, not_found, parse_id, validation_error

RUN_FILTERS = ("status", "started_after")
RUN_INCLUDES = ("flow", "flowVersion")
RUN_SORTS = ("started_at",)
EPOCH_MS = re.compile(r"^[0-9]{1,13}$")  # up to the year 2286
# Environments only in the shapes that go beyond what Patchworks publishes.
WITH_ENVIRONMENT = (shapes.FLAT_CAMEL, shapes.BODYLESS_WRITES)


def _started_after(value: str) -> datetime:
    """A timestamp, or epoch milliseconds, as both are published."""
    if EPOCH_MS.match(value):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        field = "filter.started_after"
        raise validation_error({field: ["The filter.started_after field must be a valid date."]})
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _statuses(value: str) -> set[int]:
    # Values that cannot be a status match nothing, as an exact filter on a number column would.
    parts = [part.strip() for part in value.split(",")]
    return {int(p) for p in parts if p.isascii() and p.isdigit() and len(p) < 6}


def _includes(request: HttpRequest) -> set[str]:
    requested = [p.strip() for p in request.GET.get("include", "").split(",") if p.strip()]
    unknown = [name for name in requested if name not in RUN_INCLUDES]
    if unknown:
        raise queries._spatie_error("include", unknown, RUN_INCLUDES)
    return set(requested)


def _newest_first(request: HttpRequest) -> bool:
    raw = request.GET.get("sort", "").strip() or "-started_at"
    if raw.lstrip("-") not in RUN_SORTS:
        raise queries._spatie_error("sort", [raw], RUN_SORTS)
    return raw.startswith("-")


@api_view("GET")
def flow_run_list(request: HttpRequest) -> JsonResponse:
    filters = queries.read_filters(request, RUN_FILTERS)
    includes = _includes(request)
    newest_first = _newest_first(request)
    page, per_page = queries.read_page(request)
    after = _started_after(filters["started_after"]) if "started_after" in filters else None
    statuses = _statuses(filters["status"]) if "status" in filters else None
    found = runs.runs(started_after=after, statuses=statuses, newest_first=newest_first)
    shape = shapes.current()
    if shape != shapes.JSONAPI:
        body = queries.paginate(request, found, page, per_page, lambda r: _flat(r, includes, shape))
        return JsonResponse(body)
    included: dict[tuple[str, str], dict] = {}
    body = queries.paginate(
        request, found, page, per_page, lambda r: _resource(r, includes, included)
    )
    return JsonResponse({**body, "included": list(included.values())})


@api_view("GET")
def flow_run_logs(request: HttpRequest, flow_run: str) -> JsonResponse:
    found = runs.find(parse_id(flow_run, "FlowRun"))
    if found is None:
        raise not_found("FlowRun", flow_run)
    page, per_page = queries.read_page(request)
    shape = shapes.current()
    serialize = _log_resource if shape == shapes.JSONAPI else _log_flat
    return JsonResponse(queries.paginate(request, runs.logs(found), page, per_page, serialize))


# Serialising ----------------------------------------------------------------------------------


def _fields(run: runs.Run) -> dict[str, Any]:
    return {
        "status": run.status,
        "started_at": queries.iso(run.started_at),
        "finished_at": queries.iso(run.finished_at),
        "flow_id": run.flow_id,
        "flow_version_id": run.flow_version_id,
    }


def _flat(run: runs.Run, includes: set[str], shape: str) -> dict:
    data: dict[str, Any] = {"id": run.id, **_fields(run)}
    if shape in WITH_ENVIRONMENT:
        data["virtual_environment_id"] = run.virtual_environment_id
    if "flow" in includes:
        data["flow"] = queries.flow_json(_flow(run.flow_id))
    if "flowVersion" in includes:
        version = _version(run.flow_version_id)
        key = "flow_version" if shape == shapes.FLAT_SNAKE else "flowVersion"
        data[key] = {"id": version.id, "flow_id": version.flow_id, "status": version.status}
    return data


def _resource(run: runs.Run, includes: set[str], included: dict[tuple[str, str], dict]) -> dict:
    relationships = {
        "flow": {"data": {"type": "flows", "id": str(run.flow_id)}},
        "flowVersion": {"data": {"type": "flow-versions", "id": str(run.flow_version_id)}},
    }
    if "flow" in includes and ("flows", str(run.flow_id)) not in included:
        flow = _flow(run.flow_id)
        attributes = {"name": flow.name, "priority": flow.priority}
        included[("flows", str(flow.id))] = _jsonapi("flows", flow.id, attributes)
    if "flowVersion" in includes and ("flow-versions", str(run.flow_version_id)) not in included:
        version = _version(run.flow_version_id)
        attributes = {"status": version.status, "created_at": queries.iso(version.created_at)}
        included[("flow-versions", str(version.id))] = _jsonapi(
            "flow-versions", version.id, attributes
        )
    return {**_jsonapi("flow-runs", run.id, _fields(run)), "relationships": relationships}


def _flow(ident: int) -> Flow:
    return Flow.objects.get(pk=ident)


def _version(ident: int) -> FlowVersion:
    return FlowVersion.objects.get(pk=ident)


def _jsonapi(kind: str, ident: int, attributes: dict) -> dict:
    return {"type": kind, "id": str(ident), "attributes": attributes}


def _log_fields(log: runs.Log) -> dict[str, Any]:
    return {
        "log_level": log.log_level,
        "log_message": log.log_message,
        "flow_step_id": log.flow_step_id,
        "created_at": queries.iso(log.created_at),
    }


def _log_flat(log: runs.Log) -> dict:
    return {"id": log.id, **_log_fields(log)}


def _log_resource(log: runs.Log) -> dict:
    return _jsonapi("flow-run-logs", log.id, _log_fields(log))
