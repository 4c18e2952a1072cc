"""Change requests (list, one request, approve, decline, apply, edit) and the settings pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from deployments_ui import audit
from deployments_ui.accounts import access
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.accounts.same_person import same_person
from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.audit.values import state_changes, state_lines
from deployments_ui.changes import gate, requests, rules
from deployments_ui.changes.gate import ChangeFrozen, RequestRefused
from deployments_ui.changes.models import ChangeRequest, ChangeRule, FreezeWindow
from deployments_ui.core.errors import ActionRefused
from deployments_ui.deployments import applying, reads
from deployments_ui.forms.changes import FreezeWindowForm
from deployments_ui.patchworks import PatchworksError
from deployments_ui.presenters import deployment_label

AUDIT_DOWN = gettext_lazy(
    "The console could not record this step in the audit log, so nothing was done."
)
HIDDEN_KEYS = {"Deployment id", "Flow version id", "Change asked for", "Change request"}


def change_list(request: HttpRequest) -> HttpResponse:
    requests.expire_due()
    context = {
        "open_requests": requests.open_requests(),
        "waiting": requests.waiting_for(request.user),
        "recent": requests.recent_requests(),
    }
    return TemplateResponse(request, "changes/change_list.html", context)


def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    requests.expire_due()
    change = get_object_or_404(ChangeRequest.objects.select_related("requested_by"), pk=pk)
    now, now_error = _value_now(request, change)
    user = request.user
    decided = change.current_decisions().filter(user=user).exists()
    is_requester = change.requested_by_id == user.pk
    # Nobody approves what they asked for, under any of their accounts.
    asked_it = is_requester or same_person(change.requested_by, user)
    may_decide = gate.may_decide(user, change) and not asked_it and not decided
    approver = change.approvals().filter(user=user).exists()
    context = {
        "change": change,
        "rows": _comparison(change, now),
        "now_error": now_error,
        "decisions": change.decisions.select_related("user"),
        "approvals": change.approvals().count(),
        "is_requester": is_requester,
        "may_approve": change.status == ChangeRequest.Status.OPEN and may_decide,
        "may_decline": change.is_open and may_decide,
        "may_apply": change.status == ChangeRequest.Status.APPROVED and (is_requester or approver),
        "may_break_glass": change.is_open and user.has_perm(access.BREAK_GLASS_PERMISSION),
        "may_edit": change.is_open and is_requester,
        "may_withdraw": change.is_open and is_requester,
        "freeze": rules.freeze_in_force(change.ref.environment),
        "history": _history(change),
        "can_override": user.has_perm(access.BREAK_GLASS_PERMISSION),
    }
    return TemplateResponse(request, "changes/change_detail.html", context)


def _value_now(request, change: ChangeRequest) -> tuple[dict | None, str]:
    """The deployment as Patchworks has it now, read when the page opens."""
    if not change.deployment_id:
        return None, ""
    try:
        current = reads.deployment_get(
            user=request.user,
            flow_version_id=change.flow_version_id,
            deployment_id=change.deployment_id,
        )
    except MissingApiKey:
        return None, "Add your Patchworks API key to see its value in Patchworks now."
    except PatchworksError as error:
        return None, error.message
    return audit.deployment_state(current), ""


def _comparison(change: ChangeRequest, now: dict | None) -> list[tuple[str, str, str, str]]:
    """(label, before, after, now) for each value the request records."""
    now_values = dict(state_lines(now)) if now else {}
    return [
        (label, before, after, now_values.get(label, "—"))
        for label, before, after in state_changes(change.expected, change.after)
        if label not in HIDDEN_KEYS
    ]


def _history(change: ChangeRequest) -> list:
    """The audit entries of this request's steps and of its write, newest first: linked by the
    request's id, never by words in a reason."""
    rows = audit.entries.entry_queryset().filter(after__change_request=change.pk)[:50]
    return [audit.entries.entry_from_event(row) for row in rows]


def _step(request, pk: int, do) -> HttpResponse:
    """Run one step on a request and come back to its page with what happened."""
    try:
        message = do(Actor.from_request(request))
    except ActionRefused as refused:
        messages.error(request, refused.message)
    except PatchworksError as error:
        messages.error(
            request,
            gettext("Patchworks did not take the change: %(message)s") % {"message": error.message},
        )
    except MissingApiKey:
        messages.error(
            request, gettext("Add your Patchworks API key first, on the My API key page.")
        )
    except AuditUnavailable:
        messages.error(request, AUDIT_DOWN)
    else:
        messages.success(request, message)
    return redirect("change-detail", pk=pk)


def _applied_message(result) -> str:
    if hasattr(result, "flow_version_id"):
        return f"Applied: {deployment_label(result)} is changed in Patchworks."
    return "Applied in Patchworks."


@require_POST
def change_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def do(actor):
        try:
            change, applied = applying.approve(
                actor=actor, user=request.user, request_id=pk, revision=_revision(request)
            )
        except ChangeFrozen as frozen:
            return f"Approved. It could not apply itself now: {frozen.message}"
        except (PatchworksError, ActionRefused) as error:
            if isinstance(error, RequestRefused) and not isinstance(error, gate.RequestStale):
                raise
            return f"Approved, but applying it failed: {error.message}"
        if applied is not None:
            return f"Approved and applied, as its requester asked. {_applied_message(applied)}"
        if change.status == ChangeRequest.Status.APPROVED and change.bulk_job_id:
            return "Approved. The bulk job sends these changes within a minute."
        if change.status == ChangeRequest.Status.APPROVED and change.due_at:
            return "Approved. It is applied at its scheduled time."
        if change.status == ChangeRequest.Status.APPROVED:
            return "Approved. The person who asked, or an approver, can now apply it."
        return (
            f"Approved. It needs {change.approvals_required - change.approvals().count()} "
            "more approval(s)."
        )

    return _step(request, pk, do)


def _revision(request: HttpRequest) -> int | None:
    """The revision of the request the approver's page showed (an edit since voids it)."""
    value = request.POST.get("revision", "")
    return int(value) if value.isdigit() else None


@require_POST
def change_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    def do(actor):
        requests.withdraw(actor=actor, user=request.user, request_id=pk)
        return "Withdrawn. Nothing was sent to Patchworks."

    return _step(request, pk, do)


@require_POST
def change_decline(request: HttpRequest, pk: int) -> HttpResponse:
    def do(actor):
        requests.decline(
            actor=actor, user=request.user, request_id=pk, reason=request.POST.get("reason", "")
        )
        return "Declined. Nothing was sent to Patchworks."

    return _step(request, pk, do)


@require_POST
def change_apply(request: HttpRequest, pk: int) -> HttpResponse:
    def do(actor):
        result = applying.apply(
            actor=actor,
            user=request.user,
            request_id=pk,
            break_glass_reason=request.POST.get("break_glass_reason", "")
            if request.POST.get("break_glass")
            else "",
            freeze_override=request.POST.get("freeze_override", ""),
        )
        return _applied_message(result)

    if request.POST.get("break_glass") and not request.POST.get("break_glass_reason", "").strip():
        messages.error(request, gettext("To apply it without waiting for approval, say why."))
        return redirect("change-detail", pk=pk)
    return _step(request, pk, do)


@require_POST
def change_edit(request: HttpRequest, pk: int) -> HttpResponse:
    priority = request.POST.get("priority", "unchanged")
    if priority not in ("unchanged", "", "1", "2", "3", "4", "5"):
        messages.error(
            request, gettext("Priority is 1 (highest) to 5, or empty to inherit from the flow.")
        )
        return redirect("change-detail", pk=pk)

    def do(actor):
        requests.edit(
            actor=actor,
            user=request.user,
            request_id=pk,
            reason=request.POST.get("reason", ""),
            apply_when_approved=bool(request.POST.get("apply_when_approved")),
            priority=priority if priority == "unchanged" else (int(priority) if priority else None),
        )
        return "Saved. Approvals given before were reset: it needs approving again."

    return _step(request, pk, do)


# Settings


@require_http_methods(["GET", "POST"])
def change_control_settings(request: HttpRequest) -> HttpResponse:
    environments, environments_error = _environments(request)
    if request.method == "POST":
        actor = Actor.from_request(request)
        try:
            for kind in ("live", "test"):
                rules.save_rule(
                    actor=actor,
                    user=request.user,
                    environment_type=kind,
                    **_rule_fields(request, f"type-{kind}"),
                )
            for environment in environments:
                prefix = f"env-{environment.id}"
                if request.POST.get(f"{prefix}-own"):
                    rules.save_rule(
                        actor=actor,
                        user=request.user,
                        environment_id=environment.id,
                        environment_name=environment.name,
                        **_rule_fields(request, prefix),
                    )
                else:
                    rules.clear_rule(actor=actor, environment_id=environment.id)
        except AuditUnavailable:
            messages.error(request, AUDIT_DOWN)
        else:
            messages.success(request, gettext("Saved the change control rules."))
        return redirect("change-control-settings")
    saved = {
        (rule.environment_type, rule.environment_id): rule for rule in ChangeRule.objects.all()
    }
    context = {
        "type_rows": [(kind, saved.get((kind, ""))) for kind in ("live", "test")],
        "environment_rows": [(env, saved.get(("", env.id))) for env in environments],
        "environments_error": environments_error,
        "global_follows": settings.CONSOLE_GLOBAL_FOLLOWS_EVERY_TYPE,
    }
    return TemplateResponse(request, "changes/change_control_settings.html", context)


def _rule_fields(request, prefix: str) -> dict:
    try:
        count = int(request.POST.get(f"{prefix}-approvals") or 1)
    except ValueError:
        count = 1
    return {
        "needs_approval": bool(request.POST.get(f"{prefix}-needs_approval")),
        "approvals_required": min(max(count, 1), 5),
        "confirm_name": bool(request.POST.get(f"{prefix}-confirm_name")),
    }


def _environments(request) -> tuple[list, str]:
    try:
        return reads.pickers_get(user=request.user).environments, ""
    except MissingApiKey:
        return [], "Add your Patchworks API key to set rules for single environments."
    except PatchworksError as error:
        return [], f"Patchworks could not list the environments: {error.message}"


@require_http_methods(["GET", "POST"])
def freeze_windows(request: HttpRequest) -> HttpResponse:
    environments, environments_error = _environments(request)
    if request.method == "POST" and request.POST.get("delete"):
        try:
            rules.delete_window(
                actor=Actor.from_request(request), window_id=int(request.POST["delete"])
            )
        except (ValueError, AuditUnavailable):
            messages.error(request, gettext("The freeze window could not be removed."))
        else:
            messages.success(request, gettext("Removed the freeze window."))
        return redirect("freeze-windows")
    form = FreezeWindowForm(
        request.POST if request.method == "POST" else None, environments=environments
    )
    if request.method == "POST" and form.is_valid():
        try:
            window = rules.save_window(
                actor=Actor.from_request(request), user=request.user, window=form.window()
            )
        except AuditUnavailable:
            messages.error(request, AUDIT_DOWN)
        else:
            messages.success(
                request, gettext("Added the freeze window %(when)s.") % {"when": window.when_text}
            )
            return redirect("freeze-windows")
    context = {
        "form": form,
        "windows": FreezeWindow.objects.all(),
        "in_force": {freeze.window.pk: freeze for freeze in rules.freezes_in_force()},
        "environments_error": environments_error,
    }
    return TemplateResponse(
        request, "changes/freeze_windows.html", context, status=400 if form.errors else 200
    )
