"""Personal API tokens: each person's own (make, see, revoke) and, for Admins, everyone's."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from deployments_ui.audit import Actor
from deployments_ui.core.http import SignedInRequest
from deployments_ui.forms.tokens import TokenForm
from deployments_ui.tokens import services
from deployments_ui.tokens.models import ApiToken
from deployments_ui.tokens.services import TokenRefused

OWN_PAGE = "account/api_tokens.html"
FORM_FIELDS = {"expires_at": "expires_on"}


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request: SignedInRequest) -> HttpResponse:
    """The person's tokens, and a form to make one; a new token's secret is shown once."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.create_token(
                actor=Actor.from_request(request),
                user=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                scope=form.cleaned_data["scope"],
            )
        except TokenRefused as refused:
            field = FORM_FIELDS.get(refused.field, refused.field)
            form.add_error(field if field in form.fields else None, refused.message)
        else:
            context = {"form": TokenForm(), "made": token, "secret": secret}
            return _own_page(request, context)
    return _own_page(request, {"form": form}, status=400 if form.errors else 200)


def _own_page(request: SignedInRequest, context: dict, status: int = 200) -> HttpResponse:
    context["tokens"] = services.tokens_of(request.user)
    return TemplateResponse(request, OWN_PAGE, context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def api_token_revoke(request: SignedInRequest, token: int) -> HttpResponse:
    """Ask, then revoke: the owner their own, an Admin anyone's."""
    found = get_object_or_404(ApiToken.objects.select_related("user"), pk=token)
    if not services.may_revoke(request.user, found):
        raise Http404("No such token")
    back = "api-tokens" if found.user_id == request.user.pk else "api-token-list"
    if request.method == "POST":
        try:
            services.revoke_token(actor=Actor.from_request(request), user=request.user, token=found)
        except TokenRefused as refused:
            messages.warning(request, refused.message)
        else:
            messages.success(
                request,
                gettext(
                    "The token '%(name)s' is revoked: it no longer works. "
                    "Scripts that use it will be refused."
                )
                % {"name": found.name},
            )
        return redirect(back)
    context = {"token": found, "back": back}
    return TemplateResponse(request, "account/api_token_revoke.html", context)


@never_cache
@require_http_methods(["GET", "HEAD"])
def api_token_list(request: SignedInRequest) -> HttpResponse:
    """Everyone's tokens, for Admins."""
    context = {"tokens": services.everyones_tokens()}
    return TemplateResponse(request, "account/all_api_tokens.html", context)
