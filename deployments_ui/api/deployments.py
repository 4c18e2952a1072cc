"""Deployments through the API: the list and one deployment (shared reads), and enable,
disable, schedule and ask for approval, each through the one change pipeline with the same
checks as a click (`deployments.writes`, `changes.gate`, `schedules.services`)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.decorators import decorate_view

from deployments_ui import audit
from deployments_ui.accounts.access import may_act
from deployments_ui.api.auth import caller, scripted
from deployments_ui.api.presenting import (
    change_request_out,
    deployment_out,
    invalid_form,
    scheduled_out,
)
from deployments_ui.api.schemas import (
    ApprovalIn,
    ChangeIn,
    ChangeOut,
    ChangeRequestOut,
    DeploymentOut,
    DeploymentPage,
    Problem,
    ScheduleIn,
)
from deployments_ui.changes.gate import ApprovalNeeded, Controls
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.core.errors import ActionRefused
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.ids import is_patchworks_id
from deployments_ui.deployments import reads, writes
from deployments_ui.deployments.refusals import AlreadyInState, NotAllowed
from deployments_ui.forms.deployments import DeploymentFilterForm
from deployments_ui.forms.schedules import ScheduleForm
from deployments_ui.presenters import deployment_label
from deployments_ui.schedules import services as schedules

router = Router(tags=["deployments"])
REFUSALS: dict[int | str, Any] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    429: Problem,
    502: Problem,
    503: Problem,
    504: Problem,
}
DEPLOYMENT = "/deployments/{flow_version}/{deployment}"


class DeploymentFilters(Schema):
    """The deployments list's filters, as the list page takes them."""

    q: str = ""
    environment: list[str] = []
    package: str = ""
    flow: str = ""
    name: str = ""
    scope: str = ""
    sort: str = ""
    per_page: int | None = None
    page: int | None = None


def _ref(flow_version: str, deployment: str) -> DeploymentRef:
    if not (is_patchworks_id(flow_version) and is_patchworks_id(deployment)):
        raise Http404("No such deployment.")
    return DeploymentRef(flow_version_id=flow_version, deployment_id=deployment)


def _controls(payload: ChangeIn, **more: Any) -> Controls:
    return Controls(
        confirm_name=payload.confirm_name, freeze_override=payload.freeze_override, **more
    )


# Reads


@router.get("/deployments", response={200: DeploymentPage, **REFUSALS}, url_name="deployment-list")
@decorate_view(scripted)
def deployment_list(request: HttpRequest, filters: Query[DeploymentFilters]) -> Any:
    """One page of deployments, with the list page's filters."""
    _, user = caller(request)
    form = DeploymentFilterForm(request.GET, pickers=reads.pickers_get(user=user))
    if not form.is_valid():
        raise invalid_form(form)
    page = reads.deployment_list(user=user, query=form.to_query())
    return {
        "items": [deployment_out(request, item) for item in page.items],
        "page": page.current_page,
        "per_page": page.per_page,
        "last_page": page.last_page,
        "total": page.total,
        "age_seconds": page.age_seconds,
    }


@router.get(DEPLOYMENT, response={200: DeploymentOut, **REFUSALS}, url_name="deployment-detail")
@decorate_view(scripted)
def deployment_detail(request: HttpRequest, flow_version: str, deployment: str) -> Any:
    """One deployment."""
    ref = _ref(flow_version, deployment)
    _, user = caller(request)
    found = reads.deployment_get(
        user=user, flow_version_id=ref.flow_version_id, deployment_id=ref.deployment_id
    )
    return deployment_out(request, found)


# Changes


@router.post(
    f"{DEPLOYMENT}/enable",
    response={200: ChangeOut, 202: ChangeOut, **REFUSALS},
    url_name="deployment-enable",
)
@decorate_view(scripted)
def deployment_enable(
    request: HttpRequest, flow_version: str, deployment: str, payload: ChangeIn
) -> Any:
    """Enable now; 202 with the change request where approval is needed."""
    return _toggle(request, _ref(flow_version, deployment), payload, enabled=True)


@router.post(
    f"{DEPLOYMENT}/disable",
    response={200: ChangeOut, 202: ChangeOut, **REFUSALS},
    url_name="deployment-disable",
)
@decorate_view(scripted)
def deployment_disable(
    request: HttpRequest, flow_version: str, deployment: str, payload: ChangeIn
) -> Any:
    """Disable now; 202 with the change request where approval is needed."""
    return _toggle(request, _ref(flow_version, deployment), payload, enabled=False)


def _toggle(request: HttpRequest, ref: DeploymentRef, payload: ChangeIn, *, enabled: bool) -> Any:
    actor, user = caller(request)
    try:
        changed = writes.set_enabled(
            actor=actor,
            user=user,
            ref=ref,
            enabled=enabled,
            reason=payload.reason.strip(),
            controls=_controls(payload, apply_when_approved=True),
        )
    except AlreadyInState as refused:
        found = refused.deployment
        return Status(
            200,
            {
                "outcome": "skipped",
                "message": refused.message,
                "deployment": deployment_out(request, found) if found else None,
            },
        )
    except ApprovalNeeded as asked:
        return _waiting(request, asked)
    verb = "enabled" if enabled else "disabled"
    label = deployment_label(changed)
    return Status(
        200,
        {
            "outcome": "done",
            "message": f"{label[:1].upper()}{label[1:]} is now {verb}.",
            "deployment": deployment_out(request, changed),
        },
    )


def _waiting(request: HttpRequest, asked: ApprovalNeeded) -> Status:
    return Status(
        202,
        {
            "outcome": "waiting",
            "message": asked.message,
            "change_request": change_request_out(request, asked.change_request),
        },
    )


@router.post(
    f"{DEPLOYMENT}/schedule",
    response={201: ChangeOut, 202: ChangeOut, **REFUSALS},
    url_name="deployment-schedule",
)
@decorate_view(scripted)
def deployment_schedule(
    request: HttpRequest, flow_version: str, deployment: str, payload: ScheduleIn
) -> Any:
    """Enable or disable later (or disable now until a time); 202 when approval is needed."""
    ref = _ref(flow_version, deployment)
    actor, user = caller(request)
    _may_or_refuse(request, ref, "schedule", payload.action, payload.reason)
    form = ScheduleForm(payload.model_dump())
    if not form.is_valid():
        raise invalid_form(form)
    found = reads.deployment_get(
        user=user, flow_version_id=ref.flow_version_id, deployment_id=ref.deployment_id
    )
    data = form.cleaned_data
    asked = schedules.schedule_change(
        actor=actor,
        user=user,
        deployment=found,
        action=data["action"],
        at=data["at"],
        until=data["until"],
        reason=data["reason"].strip(),
        time_zone=form.zone_name(),
        controls=_controls(payload),
    )
    body: dict[str, Any] = {
        "outcome": "scheduled",
        "message": _scheduled_words(asked, found),
        "deployment": deployment_out(request, asked.changed_now or found),
        "scheduled": [scheduled_out(change) for change in asked.changes],
    }
    if asked.change_request is not None:
        body.update(
            outcome="waiting", change_request=change_request_out(request, asked.change_request)
        )
        return Status(202, body)
    return Status(201, body)


def _scheduled_words(asked: schedules.Asked, found: Any) -> str:
    words = "; ".join(schedules.change_words(change) for change in asked.changes)
    label = deployment_label(asked.changed_now or found)
    if asked.change_request is not None:
        return (
            f"{label[:1].upper()}{label[1:]} needs approval: change request "
            f"{asked.change_request.pk} asks for it, and nothing is sent until it is approved. "
            f"{words}."
        )
    return f"Scheduled for {label}: {words}."


@router.post(
    f"{DEPLOYMENT}/approval-requests",
    response={202: ChangeOut, **REFUSALS},
    url_name="deployment-approval-request",
)
@decorate_view(scripted)
def deployment_approval_request(
    request: HttpRequest, flow_version: str, deployment: str, payload: ApprovalIn
) -> Any:
    """Ask another person to approve an enable or disable, even where no rule asks for it;
    applied once approved."""
    ref = _ref(flow_version, deployment)
    actor, user = caller(request)
    _may_or_refuse(request, ref, payload.action, payload.action, payload.reason)
    try:
        writes.set_enabled(
            actor=actor,
            user=user,
            ref=ref,
            enabled=payload.action == "enable",
            reason=payload.reason.strip(),
            controls=_controls(payload, apply_when_approved=True, ask_approval=True),
        )
    except ApprovalNeeded as asked:
        return _waiting(request, asked)
    raise ActionRefused("No change request was made.")  # ask_approval always asks or refuses


def _may_or_refuse(
    request: HttpRequest, ref: DeploymentRef, recorded: str, action: str, reason: str
) -> None:
    """The role must allow the change itself (as the access table does for the page)."""
    actor, user = caller(request)
    if may_act(user, action):
        return
    message = "Your role in the console does not allow this change."
    audit.record_refusal(actor=actor, action=recorded, target=ref, reason=reason, message=message)
    raise NotAllowed(message)


# Change requests


@router.get(
    "/change-requests/{number}",
    response={200: ChangeRequestOut, **REFUSALS},
    url_name="change-request-detail",
    tags=["change requests"],
)
@decorate_view(scripted)
def change_request_detail(request: HttpRequest, number: int) -> Any:
    """A change request: whether it still waits, was approved and applied, or declined."""
    return change_request_out(request, get_object_or_404(ChangeRequest, pk=number))
