"""The /__sandbox__/ control endpoints: reset, faults, request log, version deletion.

No API key: they exist for tests and demos, and are switched off with SANDBOX_CONTROL_ENABLED.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from sandbox import allowance as plan
from sandbox import faults, loading, shapes
from sandbox.models import Deployment, FlowVersion, RequestLogEntry, SandboxState
from sandbox.queries import iso
from sandbox.web import ApiError, api_view, json_body, not_found, parse_id


@api_view("POST", auth=False)
def reset(request: HttpRequest) -> JsonResponse:
    """Restore the demo data; with ?if_changed=1, only if a write may have changed it.

    It comes from the snapshot taken at the last full load (same rows and timestamps) unless
    that is over an hour old or ?full=1 asks for the data to be built again.
    """
    loading.wait_for_writes()
    if request.GET.get("if_changed") in {"1", "true"} and not loading.is_changed():
        return JsonResponse({"message": "Sandbox data unchanged.", "reloaded": False})
    started = time.perf_counter()
    loaded = loading.reset_demo_data(full=request.GET.get("full") in {"1", "true"})
    return JsonResponse(
        {
            "message": "Sandbox data reset.",
            "reloaded": True,
            "from_snapshot": loaded.restored,
            "flows": loaded.flows,
            "versions": loaded.versions,
            "deployments": loaded.deployments,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    )


@api_view("GET", "PUT", "DELETE", auth=False)
def fault_config(request: HttpRequest) -> JsonResponse:
    """GET the stored fault, PUT a new one (replacing it whole), DELETE it."""
    if request.method == "DELETE":
        faults.clear_fault()
        return JsonResponse({"data": None})
    if request.method == "PUT":
        try:
            new = faults.parse_fault(json_body(request))
        except faults.FaultError as error:
            raise ApiError(400, f"Invalid fault: {error}") from None
        faults.store_fault(new)
    spec = faults.stored_fault()
    return JsonResponse({"data": spec.as_json() if spec else None})


@api_view("GET", "DELETE", auth=False)
def request_log(request: HttpRequest) -> JsonResponse:
    """The /api/ requests received since the log was last cleared, oldest first."""
    if request.method == "DELETE":
        RequestLogEntry.objects.all().delete()
        return JsonResponse({"data": []})
    entries = [
        {
            "method": entry.method,
            "path": entry.path,
            "query": entry.query_string,
            "user": entry.user_name or None,
            "status": entry.status,
            "fault": entry.fault or None,
            "time": iso(entry.received_at),
            "duration_ms": entry.duration_ms,
        }
        for entry in RequestLogEntry.objects.order_by("id")
    ]
    return JsonResponse({"data": entries})


@api_view("POST", auth=False)
def delete_flow_version(request: HttpRequest, flow_version: str) -> JsonResponse:
    """Delete a flow version and its deployments, as Patchworks' dashboard can."""
    loading.mark_changed()
    with transaction.atomic():
        version = FlowVersion.objects.filter(pk=parse_id(flow_version, "FlowVersion")).first()
        if version is None:
            raise not_found("FlowVersion", flow_version)
        deleted = Deployment.objects.filter(flow_version=version).count()
        version.delete()
    return JsonResponse({"message": "Flow version deleted.", "deleted_deployments": deleted})


@api_view("GET", "PUT", "DELETE", auth=False)
def response_shape(request: HttpRequest) -> JsonResponse:
    """GET the shape answers come in, PUT {"shape": ...} to change it, DELETE to go back to
    SANDBOX_RESPONSE_SHAPE."""
    if request.method == "DELETE":
        shapes.store(None)
    elif request.method == "PUT":
        shape = json_body(request).get("shape")
        if shape not in shapes.SHAPES:
            raise ApiError(400, f"Unknown shape; use one of {', '.join(shapes.SHAPES)}.")
        shapes.store(shape)
    return JsonResponse({"data": {"shape": shapes.current(), "shapes": list(shapes.SHAPES)}})


@api_view("GET", "PUT", "DELETE", auth=False)
def allowance(request: HttpRequest) -> JsonResponse:
    """GET the allowance of enabled deployments, PUT {"max_enabled": N} to change it, DELETE
    (or a PUT of null) to go back to SANDBOX_MAX_ENABLED. A reset also goes back."""
    if request.method == "DELETE":
        plan.store(None)
    elif request.method == "PUT":
        value = json_body(request).get("max_enabled")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ApiError(400, "max_enabled must be a whole number, or null.")
        if value is not None and value < 0:
            raise ApiError(400, "max_enabled must be at least 0.")
        plan.store(value)
    return JsonResponse({"data": plan.as_json()})


@api_view("GET", "PUT", "DELETE", auth=False)
def clock(request: HttpRequest) -> JsonResponse:
    """GET how many days ahead the runs' clock is, PUT {"days_ahead": N} to move it (runs older
    than 7 days by that clock are gone, as in Patchworks), DELETE to go back. A reset goes back."""
    days = 0
    if request.method == "PUT":
        value = json_body(request).get("days_ahead")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
            raise ApiError(400, "days_ahead must be a whole number from 0 to 365.")
        days = value
    if request.method != "GET":
        loading.mark_changed()
        SandboxState.objects.update_or_create(pk=1, defaults={"runs_days_ahead": days})
    ahead = SandboxState.objects.filter(pk=1).values_list("runs_days_ahead", flat=True).first()
    return JsonResponse({"data": {"days_ahead": ahead or 0}})
