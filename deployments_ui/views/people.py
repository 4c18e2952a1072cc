"""People and their roles: who has which role where (scoped roles), edited by Admins."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from deployments_ui.accounts import same_person, scope_changes, scopes, sso
from deployments_ui.accounts.credentials import MissingApiKey
from deployments_ui.audit import Actor, AuditUnavailable
from deployments_ui.deployments import reads
from deployments_ui.forms.people import ScopeForm
from deployments_ui.patchworks import PatchworksError

AUDIT_DOWN = gettext_lazy(
    "The audit trail cannot be written just now, so nothing was changed. Try again."
)


@require_GET
def people_list(request: HttpRequest) -> TemplateResponse:
    people = get_user_model().objects.filter(is_active=True).order_by("username")
    rows = [{"person": person, "roles": scopes.describe_shown(person)} for person in people]
    return TemplateResponse(request, "people/people_list.html", {"rows": rows})


def _pickers(request) -> tuple[list, list, str]:
    try:
        pickers = reads.pickers_get(user=request.user)
    except MissingApiKey:
        return [], [], gettext("Add your Patchworks API key to choose one environment or one flow.")
    except PatchworksError as error:
        return (
            [],
            [],
            gettext("Patchworks could not list the environments: %(message)s")
            % {"message": error.message},
        )
    return pickers.environments, pickers.flows, ""


@require_http_methods(["GET", "POST"])
def person_roles(request: HttpRequest, person: int) -> HttpResponse:
    found = get_user_model().objects.filter(pk=person).first()
    if found is None:
        raise Http404("No such person")
    environments, flows, pickers_error = _pickers(request)
    form = ScopeForm(
        request.POST if "give" in request.POST else None, environments=environments, flows=flows
    )
    if request.method == "POST":
        try:
            if "link_account" in request.POST or "link_identity" in request.POST:
                _link(request, found)
                return redirect("person-roles", person=found.pk)
            if "remove" in request.POST:
                scope_id = int(request.POST["remove"]) if request.POST["remove"].isdigit() else 0
                scope_changes.remove_scope(
                    actor=Actor.from_request(request), person=found, scope_id=scope_id
                )
                messages.success(request, gettext("Removed the scoped role."))
                return redirect("person-roles", person=found.pk)
            if form.is_valid():
                given = scope_changes.give_scope(
                    actor=Actor.from_request(request),
                    person=found,
                    role=form.cleaned_data["role"],
                    place=form.chosen_place(),
                )
                messages.success(
                    request,
                    gettext("%(name)s is now %(role)s.")
                    % {"name": found.get_username(), "role": given},
                )
                return redirect("person-roles", person=found.pk)
        except (scope_changes.ScopeRefused, same_person.LinkRefused) as refused:
            messages.error(request, refused.message)
        except AuditUnavailable:
            messages.error(request, AUDIT_DOWN)
    context = {
        "person": found,
        "groups": sorted(found.groups.values_list("name", flat=True)),
        "scopes": sorted(scopes.scopes_of(found), key=lambda s: s.place),
        "form": form,
        "pickers_error": pickers_error,
        "other_accounts": get_user_model()
        .objects.filter(pk__in=same_person.accounts_of(found) - {found.pk})
        .order_by("username"),
        "identity": getattr(found, "sso_identity", None),
    }
    status = 400 if form.errors else 200
    return TemplateResponse(request, "people/person_roles.html", context, status=status)


def _link(request: HttpRequest, found) -> None:
    """Link another account, or a single sign-on identity, to this person (audited)."""
    actor = Actor.from_request(request)
    if "link_account" in request.POST:
        username = request.POST.get("username", "").strip()[:150]
        other = get_user_model().objects.filter(username__iexact=username).first()
        if other is None or other.pk == found.pk:
            raise same_person.LinkRefused(gettext("Choose another account by its username."))
        same_person.link_accounts(actor=actor, account=found, other=other)
        messages.success(
            request, gettext("%(name)s is now the same person.") % {"name": other.get_username()}
        )
        return
    identity = sso.normalise_identity(request.POST.get("identity", "")[:254])
    if identity is None:
        raise same_person.LinkRefused(
            gettext("Type the identity as the identity provider sends it.")
        )
    same_person.link_identity(actor=actor, account=found, identity=identity)
    messages.success(
        request,
        gettext("Single sign-on as %(identity)s now signs in to this account.")
        % {"identity": identity},
    )
