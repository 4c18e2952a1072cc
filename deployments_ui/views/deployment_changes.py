"""The pages and actions that change deployments: create, edit, delete, enable and disable."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from deployments_ui.audit import Actor
from deployments_ui.changes.gate import (
    ApprovalNeeded,
    ChangeFrozen,
    DuplicateRequest,
    NameNotConfirmed,
    ReasonRequired,
)
from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.ids import is_patchworks_id
from deployments_ui.deployments import reads, writes
from deployments_ui.deployments.refusals import AlreadyInState, ChangedSinceOpened, NotAllowed
from deployments_ui.forms.deployments import (
    DeploymentCreateForm,
    DeploymentEditForm,
    ToggleForm,
    sign_opened_values,
)
from deployments_ui.patchworks import NotFound, ValidationFailed
from deployments_ui.presenters import (
    badges_after,
    deployment_label,
    deployment_row,
    health_after_change,
    toggle_context,
    toggle_question,
    with_schedule_badges,
)
from deployments_ui.views.controls import control_context, controls_from
from deployments_ui.views.pages import (
    buttons_at,
    kept_bulk_choice,
    mark_fragment,
    needs_api_key,
    not_yours,
    refusal,
    respond,
    safe_next,
    shows_errors,
    wants_fragment,
)

FORM = "deployments_ui/deployment_form.html"
# Refusals a person answers where they are: beside a field of the dialog or form.
DIALOG_REFUSALS = (NameNotConfirmed, ReasonRequired, ChangeFrozen, DuplicateRequest, NotAllowed)
DELETE_PAGE = "deployments_ui/deployment_confirm_delete.html"


@require_http_methods(["GET", "POST"])
@needs_api_key
@shows_errors
def deployment_create(request: HttpRequest, flow_version: str) -> HttpResponse:
    existing = reads.flow_version_deployment_list(
        user=request.user, flow_version_id=flow_version, per_page=1
    )
    environments = reads.pickers_get(user=request.user).environments
    flow_name = existing.items[0].flow_name if existing.items else ""
    form = DeploymentCreateForm(request.POST or None, environments=environments)
    context = {"form": form, "flow_version": flow_version, "flow_name": flow_name}
    context.update(control_context(request.user, None))
    if request.method == "POST" and form.is_valid():
        try:
            created = writes.create(
                actor=Actor.from_request(request),
                user=request.user,
                flow_version_id=flow_version,
                virtual_environment_id=form.environment_id(),
                priority=form.cleaned_data["priority"],
                deploy_disabled=form.cleaned_data["deploy_disabled"],
                flow_name=flow_name,
                reason=form.cleaned_data["reason"],
                controls=controls_from(request),
            )
        except (ApprovalNeeded, NameNotConfirmed) as controlled:
            return _controlled(request, context, controlled)
        except ConsoleError as error:
            return _form_failure(request, context, error)
        messages.success(
            request, gettext("Created %(label)s.") % {"label": deployment_label(created)}
        )
        return redirect(
            "deployment-detail", flow_version=created.flow_version_id, deployment=created.id
        )
    return _form_page(request, context)


def _form_page(request, context) -> HttpResponse:
    return TemplateResponse(request, FORM, context, status=400 if context["form"].errors else 200)


def _controlled(request, context, controlled: ApprovalNeeded | NameNotConfirmed) -> HttpResponse:
    """Change control held the write: a request was recorded, or the typed name was wrong."""
    if isinstance(controlled, ApprovalNeeded):
        messages.info(request, controlled.message)
        return redirect("change-detail", pk=controlled.change_request.pk)
    context["control"] = {**context.get("control", {}), "confirm_error": controlled.message}
    return TemplateResponse(request, FORM, context, status=400)


def _form_failure(request, context, error: ConsoleError) -> HttpResponse:
    """Show why a form's write failed, keeping everything the person typed."""
    form = context["form"]
    if isinstance(error, ValidationFailed):
        form.add_upstream_errors(error.field_errors)
        if not error.field_errors:
            form.add_error(None, error.message)
        return TemplateResponse(request, FORM, context, status=error.http_status)
    if getattr(error, "field", "") in form.fields:
        form.add_error(error.field, error.message)  # type: ignore[attr-defined]
        return TemplateResponse(request, FORM, context, status=error.http_status)
    error.message = writes.failure_message(error)
    return respond(request, FORM, context, error=error)


@require_http_methods(["GET", "POST"])
@needs_api_key
@shows_errors
def deployment_edit(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    found = reads.deployment_get(
        user=request.user, flow_version_id=flow_version, deployment_id=deployment
    )
    if refused := not_yours(request, "update", found):
        return refused
    environments = reads.pickers_get(user=request.user).environments
    form = DeploymentEditForm(
        request.POST or None, initial=_edit_initial(found), environments=environments
    )
    context = {"form": form, "deployment": found, "flow_version": flow_version}
    context.update(control_context(request.user, found))
    if request.method == "POST" and form.is_valid():
        return _save_edit(request, form, context, found)
    return _form_page(request, context)


def _edit_initial(found) -> dict:
    return {
        "environment": found.virtual_environment_id or "global",
        "priority": "" if found.priority is None else str(found.priority),
        "enabled_at": found.enabled_at,
        "opened": sign_opened_values(writes.editable_values(found)),
    }


def _save_edit(request, form, context, found) -> HttpResponse:
    opened = form.opened_values()
    if opened is None:
        opened = writes.editable_values(found)
    changes = form.changes(opened)
    if not changes:
        messages.info(request, gettext("Nothing was changed."))
        return redirect(
            "deployment-detail", flow_version=found.flow_version_id, deployment=found.id
        )
    try:
        updated = writes.update(
            actor=Actor.from_request(request),
            user=request.user,
            current=found,
            changes=changes,
            opened_values=opened,
            reason=form.cleaned_data["reason"],
            controls=controls_from(request),
        )
    except ChangedSinceOpened as conflict:
        return _edit_conflict(request, form, context, conflict)
    except (ApprovalNeeded, NameNotConfirmed) as controlled:
        return _controlled(request, context, controlled)
    except ConsoleError as error:
        return _form_failure(request, context, error)
    messages.success(
        request, gettext("Saved your changes to %(label)s.") % {"label": deployment_label(updated)}
    )
    return redirect(
        "deployment-detail", flow_version=updated.flow_version_id, deployment=updated.id
    )


def _edit_conflict(request, form, context, conflict: ChangedSinceOpened) -> HttpResponse:
    """Keep the person's input, show what changed, and base the next save on the new values."""
    data = request.POST.copy()
    data["opened"] = sign_opened_values(writes.editable_values(conflict.deployment))
    form.data = data
    context.update(deployment=conflict.deployment, conflict=conflict)
    return TemplateResponse(request, FORM, context, status=conflict.http_status)


@require_http_methods(["GET", "POST"])
@needs_api_key
@shows_errors
def deployment_delete(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    if request.method == "POST":
        try:
            deleted = writes.delete(
                actor=Actor.from_request(request),
                user=request.user,
                ref=DeploymentRef(flow_version_id=flow_version, deployment_id=deployment),
                reason=request.POST.get("reason", "")[:500],
                controls=controls_from(request),
            )
        except NotFound as error:
            messages.warning(request, error.message)
            return redirect("deployment-list")
        except ApprovalNeeded as requested:
            messages.info(request, requested.message)
            return redirect("change-detail", pk=requested.change_request.pk)
        except NameNotConfirmed as refused:
            found = reads.deployment_get(
                user=request.user, flow_version_id=flow_version, deployment_id=deployment
            )
            context = {
                "deployment": found,
                **control_context(request.user, found, confirm_error=refused.message),
            }
            return TemplateResponse(request, DELETE_PAGE, context, status=400)
        except ConsoleError as error:
            messages.error(request, writes.failure_message(error))
            return redirect("deployment-delete", flow_version=flow_version, deployment=deployment)
        messages.success(
            request, gettext("Deleted %(label)s.") % {"label": deployment_label(deleted)}
        )
        return redirect("deployment-list")
    found = reads.deployment_get(
        user=request.user, flow_version_id=flow_version, deployment_id=deployment
    )
    if forbidden := not_yours(request, "delete", found):
        return forbidden
    return TemplateResponse(
        request, DELETE_PAGE, {"deployment": found, **control_context(request.user, found)}
    )


# Enable and disable


@require_POST
@needs_api_key
@shows_errors
def deployment_enable(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    return _toggle(request, flow_version, deployment, enabled=True)


@require_POST
@needs_api_key
@shows_errors
def deployment_disable(request: HttpRequest, flow_version: str, deployment: str) -> HttpResponse:
    return _toggle(request, flow_version, deployment, enabled=False)


def _toggle(request, flow_version: str, deployment: str, *, enabled: bool) -> HttpResponse:
    """One write, then the row or panel that asked for it, or a redirect back without htmx.

    A refusal (wrong name, no reason, frozen, already asked for) leaves the page as it is: the
    dialog shows it beside its field, and without JavaScript the confirmation page does."""
    ids = (flow_version, deployment)
    form = ToggleForm(request.POST)
    next_url = safe_next(request, reverse("deployment-detail", args=ids))
    if request.POST.get("ask") and not request.POST.get("confirmed"):
        return _toggle_confirmation(request, ids, enabled, next_url)
    badges: dict = {}
    try:
        if not form.is_valid():
            raise ReasonRequired("Please give a reason.")
        changed = writes.set_enabled(
            actor=Actor.from_request(request),
            user=request.user,
            ref=DeploymentRef(flow_version_id=flow_version, deployment_id=deployment),
            enabled=enabled,
            reason=form.cleaned_data["reason"],
            controls=controls_from(request),
            meanwhile=_preparing(request, badges),
            ahead=getattr(request, "change_read", None),
        )
    except AlreadyInState as refused:
        return _toggle_answer(request, next_url, refused.deployment, refused.message, "warning")
    except ApprovalNeeded as requested:
        return _toggle_answer(request, next_url, requested.deployment, requested.message, "info")
    except DIALOG_REFUSALS as refused:
        if not request.htmx:
            return _toggle_confirmation(request, ids, enabled, next_url, refused)
        return refusal(refused, link=_request_link(refused))
    except ConsoleError as error:
        return _toggle_failed(request, next_url, ids, error)
    label = capfirst(deployment_label(changed))
    if enabled:
        message = gettext("%(label)s is now enabled — it runs on its schedule.")
    else:
        message = gettext("%(label)s is now disabled — it will not run.")
    return _toggle_answer(request, next_url, changed, message % {"label": label}, badges=badges)


def _preparing(request, badges: dict):
    """What reads the row's badges while the write is in flight (only a fragment shows them)."""
    if not wants_fragment(request):
        return None
    return lambda attempt: badges.update(badges_after(attempt))


def _request_link(refused) -> str:
    request = getattr(refused, "change_request", None)
    return reverse("change-detail", args=(request.pk,)) if request is not None else ""


def _toggle_confirmation(request, ids, enabled: bool, next_url: str, refused=None) -> HttpResponse:
    """The button asks before it acts; with JavaScript a dialog does, without it this page,
    which shows a refusal beside the field it is about."""
    ahead = getattr(request, "change_read", None) if refused is None else None
    found = reads.deployment_get(
        user=request.user, flow_version_id=ids[0], deployment_id=ids[1], ahead=ahead
    )
    if refused is None and (forbidden := not_yours(request, "enable", found)):
        return forbidden
    field = getattr(refused, "field", "") if refused else ""
    context = {
        "deployment": found,
        "verb": "Enable" if enabled else "Disable",
        "question": toggle_question(found, enable=enabled),
        "next": next_url,
        "reason": request.POST.get("reason", "")[:500],
        "reason_error": refused.message if field == "reason" else "",
        "refusal": refused.message if refused and field not in ("reason", "confirm_name") else "",
        "refusal_link": _request_link(refused) if refused else "",
        **toggle_context(found),
        **control_context(
            request.user,
            found,
            confirm_error=refused.message if field == "confirm_name" else "",
        ),
    }
    return TemplateResponse(
        request,
        "deployments_ui/deployment_confirm_toggle.html",
        context,
        status=refused.http_status if refused else 200,
    )


def _toggle_failed(request, next_url, ids, error: ConsoleError) -> HttpResponse:
    """It did not go through: the message (saying whether anything changed) goes where the
    row's or panel's feedback goes."""
    message = writes.failure_message(error)
    if isinstance(error, ValidationFailed):
        details = [text for texts in error.field_errors.values() for text in texts]
        refused = " ".join(details) or error.message
        message = gettext("Patchworks refused the change: %(refused)s Nothing was changed.") % {
            "refused": refused
        }
    return _toggle_answer(
        request, next_url, None, message, level="error", ids=ids, status=error.http_status
    )


def _toggle_answer(
    request, next_url, deployment, message, level="success", *, ids=None, status=200, badges=None
) -> HttpResponse:
    """The swapped fragment (with a toast) for htmx, or a message and a redirect."""
    if not wants_fragment(request):
        messages.add_message(request, _LEVELS[level], message)
        return redirect(next_url)
    fragment = "panel" if request.POST.get("fragment") == "panel" else "row"
    context = {
        "deployment": deployment,
        "feedback": message,
        "feedback_level": level,
        "next": next_url,
        "bulk_choosable": kept_bulk_choice(request),
        **toggle_context(),
    }
    if deployment is None:
        context["ids"] = ids
        template = "deployments_ui/_feedback.html"
    else:
        row = deployment_row(deployment)
        row = {**row, **badges} if badges else with_schedule_badges([row])[0]
        context["row"] = health_after_change(row, deployment)
        context.update(buttons_at(request.user, deployment))
        template = f"deployments_ui/_deployment_{fragment}.html"
    response = TemplateResponse(request, template, context, status=status)
    toast = {"message": message, "level": level}
    if deployment is None:
        if ids:
            toast["link"] = {
                "url": reverse("deployment-detail", args=ids),
                "text": "Open the deployment",
            }
        if fragment == "row":
            # The row is unchanged and its cells keep their widths: the toast says what happened.
            response = reswap(response, "none")
        elif is_patchworks_id(ids[1]):
            # The id comes from the URL, which only matches a Patchworks id: safe in a header.
            response = reswap(retarget(response, f"#feedback-{ids[1]}"), "innerHTML")
    return trigger_client_event(mark_fragment(response), "console:toast", toast)


_LEVELS = {
    "success": messages.SUCCESS,
    "info": messages.INFO,
    "warning": messages.WARNING,
    "error": messages.ERROR,
}
