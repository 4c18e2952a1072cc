"""The pages and actions that change deployments: create, edit, delete, enable and disable."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from deployments_ui import services
from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.forms import (
    DeploymentCreateForm,
    DeploymentEditForm,
    ToggleForm,
    sign_opened_values,
)
from deployments_ui.ids import is_patchworks_id
from deployments_ui.patchworks import NotFound, PatchworksError, ValidationFailed
from deployments_ui.presenters import (
    deployment_label,
    deployment_row,
    toggle_context,
    toggle_question,
)
from deployments_ui.services import (
    ActionRefused,
    AlreadyInState,
    ChangedSinceOpened,
)
from deployments_ui.views.upstream import (
    AUDIT_DOWN,
    deployment_page,
    error_page,
    error_status,
    needs_api_key,
    safe_next,
)


@require_http_methods(["GET", "POST"])
@needs_api_key
def deployment_create(request: HttpRequest, flow_version: str) -> HttpResponse:
    try:
        existing = services.flow_version_deployment_list(
            user=request.user, flow_version_id=flow_version, per_page=1
        )
        environments = services.pickers_get(user=request.user).environments
    except PatchworksError as error:
        return error_page(request, error, flow_version)
    flow_name = existing.items[0].flow_name if existing.items else ""
    form = DeploymentCreateForm(request.POST or None, environments=environments)
    context = {"form": form, "flow_version": flow_version, "flow_name": flow_name}
    if request.method == "POST" and form.is_valid():
        try:
            created = services.deployment_create(
                actor=Actor.from_request(request),
                user=request.user,
                flow_version_id=flow_version,
                virtual_environment_id=form.environment_id(),
                priority=form.cleaned_data["priority"],
                deploy_disabled=form.cleaned_data["deploy_disabled"],
                flow_name=flow_name,
                reason=form.cleaned_data["reason"],
            )
        except (PatchworksError, AuditUnavailable) as error:
            return _form_failure(request, "deployments_ui/deployment_form.html", context, error)
        messages.success(request, f"Created {deployment_label(created)}.")
        return redirect(
            "deployment-detail", flow_version=created.flow_version_id, deployment=created.id
        )
    return TemplateResponse(
        request, "deployments_ui/deployment_form.html", context, status=400 if form.errors else 200
    )


def _form_failure(request, template, context, error) -> HttpResponse:
    """Show why a form's write failed, keeping everything the person typed."""
    form = context["form"]
    if isinstance(error, ValidationFailed):
        form.add_upstream_errors(error.field_errors)
        if not error.field_errors:
            form.add_error(None, error.message)
        return TemplateResponse(request, template, context, status=422)
    if isinstance(error, AuditUnavailable):
        context["error_message"] = AUDIT_DOWN
        return TemplateResponse(request, template, context, status=503)
    context["error_message"] = error.message
    context["outcome_unknown"] = error.outcome_unknown
    return TemplateResponse(request, template, context, status=error_status(error))


@require_http_methods(["GET", "POST"])
@needs_api_key
def deployment_edit(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    try:
        found = services.deployment_get(
            user=request.user, flow_version_id=flow_version, deployment_id=deployment
        )
        environments = services.pickers_get(user=request.user).environments
    except PatchworksError as error:
        return error_page(request, error, flow_version, deployment)
    form = DeploymentEditForm(
        request.POST or None, initial=_edit_initial(found), environments=environments
    )
    context = {"form": form, "deployment": found, "flow_version": flow_version}
    if request.method == "POST" and form.is_valid():
        return _save_edit(request, form, context, found)
    return TemplateResponse(
        request, "deployments_ui/deployment_form.html", context, status=400 if form.errors else 200
    )


def _edit_initial(found) -> dict:
    return {
        "environment": found.virtual_environment_id or "global",
        "priority": "" if found.priority is None else str(found.priority),
        "enabled_at": found.enabled_at,
        "opened": sign_opened_values(services.editable_values(found)),
    }


def _save_edit(request, form, context, found) -> HttpResponse:
    opened = form.opened_values()
    if opened is None:
        opened = services.editable_values(found)
    changes = form.changes(opened)
    if not changes:
        messages.info(request, "Nothing was changed.")
        return redirect(
            "deployment-detail", flow_version=found.flow_version_id, deployment=found.id
        )
    try:
        updated = services.deployment_update(
            actor=Actor.from_request(request),
            user=request.user,
            current=found,
            changes=changes,
            opened_values=opened,
            reason=form.cleaned_data["reason"],
        )
    except ChangedSinceOpened as conflict:
        return _edit_conflict(request, form, context, conflict)
    except (PatchworksError, AuditUnavailable) as error:
        return _form_failure(request, "deployments_ui/deployment_form.html", context, error)
    messages.success(request, f"Saved your changes to {deployment_label(updated)}.")
    return redirect(
        "deployment-detail", flow_version=updated.flow_version_id, deployment=updated.id
    )


def _edit_conflict(request, form, context, conflict: ChangedSinceOpened) -> HttpResponse:
    """Keep the person's input, show what changed, and base the next save on the new values."""
    data = request.POST.copy()
    data["opened"] = sign_opened_values(services.editable_values(conflict.deployment))
    form.data = data
    context.update(deployment=conflict.deployment, conflict=conflict)
    return TemplateResponse(request, "deployments_ui/deployment_form.html", context, status=409)


@require_http_methods(["GET", "POST"])
@needs_api_key
def deployment_delete(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    if request.method == "POST":
        try:
            deleted = services.deployment_delete(
                actor=Actor.from_request(request),
                user=request.user,
                flow_version_id=flow_version,
                deployment_id=deployment,
                reason=request.POST.get("reason", "")[:500],
            )
        except NotFound as error:
            messages.warning(request, error.message)
            return redirect("deployment-list")
        except (PatchworksError, AuditUnavailable) as error:
            messages.error(request, getattr(error, "message", AUDIT_DOWN))
            return redirect("deployment-delete", flow_version=flow_version, deployment=deployment)
        messages.success(request, f"Deleted {deployment_label(deleted)}.")
        return redirect("deployment-list")
    return deployment_page(
        request, flow_version, deployment, "deployments_ui/deployment_confirm_delete.html"
    )


# Enable and disable


@require_POST
@needs_api_key
def deployment_enable(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    return _toggle(request, flow_version, deployment, enabled=True)


@require_POST
@needs_api_key
def deployment_disable(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    return _toggle(request, flow_version, deployment, enabled=False)


def _toggle(request, flow_version: str, deployment: str, *, enabled: bool) -> HttpResponse:
    """One write, then the row or panel that asked for it, or a redirect back without htmx."""
    ids = (flow_version, deployment)
    form = ToggleForm(request.POST)
    next_url = safe_next(request, reverse("deployment-detail", args=ids))
    if request.POST.get("ask") and not request.POST.get("confirmed"):
        return _toggle_confirmation(request, ids, enabled, next_url)
    if not form.is_valid():
        return _toggle_failed(request, next_url, ids, "Please give a reason.", status=400)
    try:
        changed = services.deployment_set_enabled(
            actor=Actor.from_request(request),
            user=request.user,
            flow_version_id=flow_version,
            deployment_id=deployment,
            enabled=enabled,
            reason=form.cleaned_data["reason"],
        )
    except AlreadyInState as refused:
        return _toggle_answer(request, next_url, refused.deployment, refused.message, "warning")
    except (PatchworksError, ActionRefused) as error:
        return _toggle_error(request, next_url, error, ids)
    except AuditUnavailable:
        return _toggle_failed(request, next_url, ids, AUDIT_DOWN, status=503)
    verb = "enabled — it runs on its schedule" if enabled else "disabled — it will not run"
    return _toggle_answer(request, next_url, changed, f"{deployment_label(changed)} is now {verb}.")


def _toggle_confirmation(request, ids, enabled: bool, next_url: str) -> HttpResponse:
    """The button asks before it acts; with JavaScript a dialog does, without it this page."""
    return deployment_page(
        request,
        *ids,
        "deployments_ui/deployment_confirm_toggle.html",
        lambda found: {
            "verb": "Enable" if enabled else "Disable",
            "question": toggle_question(found, enable=enabled),
            "next": next_url,
            **toggle_context(),
        },
    )


def _toggle_error(request, next_url, error, ids) -> HttpResponse:
    message = error.message
    if isinstance(error, ValidationFailed):
        details = [text for texts in error.field_errors.values() for text in texts]
        message = f"Patchworks refused the change: {' '.join(details) or error.message}"
    status = error_status(error) if isinstance(error, PatchworksError) else 409
    return _toggle_failed(request, next_url, ids, message, status=status)


def _toggle_failed(request, next_url, ids, message: str, *, status: int) -> HttpResponse:
    """Nothing changed: the message goes where the row's or panel's feedback goes."""
    return _toggle_answer(request, next_url, None, message, level="error", ids=ids, status=status)


def _toggle_answer(
    request, next_url, deployment, message, level="success", *, ids=None, status=200
) -> HttpResponse:
    """The swapped fragment (with a toast) for htmx, or a message and a redirect."""
    if not request.htmx:
        messages.add_message(request, _LEVELS[level], message)
        return redirect(next_url)
    fragment = "panel" if request.POST.get("fragment") == "panel" else "row"
    context = {
        "deployment": deployment,
        "feedback": message,
        "feedback_level": level,
        "next": next_url,
        **toggle_context(),
    }
    if deployment is None:
        context["ids"] = ids
        template = "deployments_ui/_feedback.html"
    else:
        context["row"] = deployment_row(deployment)
        template = f"deployments_ui/_deployment_{fragment}.html"
    response = TemplateResponse(request, template, context, status=status)
    if deployment is None and is_patchworks_id(ids[1]):
        # The id comes from the URL, which only matches a Patchworks id: safe in a header.
        response = reswap(retarget(response, f"#feedback-{ids[1]}"), "innerHTML")
    response["X-Console-Fragment"] = "1"
    return trigger_client_event(response, "console:toast", {"message": message, "level": level})


_LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}
