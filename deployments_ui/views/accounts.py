"""Sign-in, sign-out, the lockout page and the My API key page."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axes.helpers import get_cool_off
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from deployments_ui import audit
from deployments_ui.accounts import credentials, lockout, oidc, same_person
from deployments_ui.accounts.models import ApiCredential
from deployments_ui.audit.models import AuditEvent
from deployments_ui.drift import sync as drift
from deployments_ui.patchworks import PatchworksError
from deployments_ui.views.pages import safe_next

logger = logging.getLogger(__name__)
SSO_ONLY = (
    "Sign in through your company's single sign-on: open the console at its usual address "
    "and you will be signed in automatically. Signing in with a password is switched off."
)
OIDC_ONLY = "Sign in with the button above. Signing in with a password is switched off."


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check them and try again.",
        "inactive": "This account has been switched off. Ask a console administrator.",
        "single_sign_on": (
            "Sign in through your company's single sign-on. Signing in with a password is "
            "kept for the console's break-glass accounts."
        ),
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        sso_on = bool(settings.SSO_HEADER) or oidc.enabled()
        if not same_person.may_sign_in_locally(user.get_username(), sso_on=sso_on):
            raise forms.ValidationError(
                self.error_messages["single_sign_on"], code="single_sign_on"
            )


class ConsoleLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.LOCAL_LOGIN_ENABLED:
            context = self.get_context_data(form=None)
            return self.render_to_response(context, status=403)
        username = request.POST.get("username", "")
        if username and lockout.is_locked(request, username):
            # Refused before the password is checked: no new failure, no audit row per try.
            return locked_out(request)
        return super().post(request, *args, **kwargs)

    def get_redirect_url(self) -> str:
        url = safe_next(self.request)
        return "" if url.split("?")[0] == self.request.path else url

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)  # Django's login() gives the session a new key.
        self.request.session["sign_in_method"] = "password"
        lockout.remember_browser(self.request, response, form.get_user().get_username())
        return response

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context["local_login_enabled"] = settings.LOCAL_LOGIN_ENABLED
        context["sso_enabled"] = bool(settings.SSO_HEADER)
        context["oidc_enabled"] = oidc.enabled()
        context["sso_only_message"] = OIDC_ONLY if context["oidc_enabled"] else SSO_ONLY
        context["oidc_provider_name"] = oidc.provider_name()
        if not settings.LOCAL_LOGIN_ENABLED:
            context["form"] = None
        return context


login = ConsoleLoginView.as_view()


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    was_sso = request.session.get("sign_in_method") == "sso"
    if request.session.get("sign_in_method") == oidc.SIGN_IN_METHOD:
        # Ends the session at the identity provider too, which sends the browser back here.
        back_from_provider = oidc.logout_url(request)
        auth_logout(request)
        messages.success(request, _("You have signed out."))
        return redirect(back_from_provider)
    auth_logout(request)
    if was_sso and settings.SSO_LOGOUT_URL:
        # Otherwise the proxy would sign the person straight back in on the next page.
        return redirect(settings.SSO_LOGOUT_URL)
    messages.success(request, _("You have signed out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, attempt_credentials=None
) -> HttpResponse:
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE): plain words, how long to wait."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    context = {"minutes": max(1, minutes) if minutes is not None else None}
    # render(), not TemplateResponse: axes returns this from its middleware, after the view.
    status = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)  # set by django-axes
    return render(request, "registration/locked_out.html", context, status=status)


class ApiKeyForm(forms.Form):
    api_key = forms.CharField(
        label=_("Your Patchworks API key"),
        help_text=_("It is shown only as its last four characters once saved."),
        strip=True,
        max_length=credentials.MAX_KEY_LENGTH,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
        ),
        error_messages={
            "required": _("Enter your Patchworks API key."),
            "max_length": _("That is too long to be a Patchworks API key."),
        },
    )

    def __init__(self, *args, label: Any = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if label:
            self.fields["api_key"].label = label


@dataclass(frozen=True)
class KeyPage:
    """One page that holds a Patchworks API key: what it stores, and how it says so."""

    template: str
    label: Any  # a lazily translated string
    saved: Callable[[Any], Any]
    save: Callable[[Any, str], Any]
    remove: Callable[[Any], bool]
    saved_message: Any  # lazily translated, like the label
    removed_message: Any
    not_saved: Any
    kind: str
    extra_context: Callable[[], dict] = dict


MY_API_KEY = KeyPage(
    template="account/api_key.html",
    label=_("Your Patchworks API key"),
    saved=lambda request: ApiCredential.objects.filter(user=request.user).first(),
    save=credentials.save_api_key,
    remove=credentials.remove_api_key,
    saved_message=_("Patchworks accepted your key, and it is saved. It ends in {last_four}."),
    removed_message=_("Your API key is removed from the console."),
    not_saved=_("Your key was not saved."),
    kind="personal",
)


def _service_key_status() -> dict:
    environment_key = settings.CONSOLE_SERVICE_API_KEY
    return {
        "environment_key_last_four": environment_key[-4:] if environment_key else "",
        "last_sync": drift.last_finished(),
    }


SERVICE_KEY = KeyPage(
    template="account/service_key.html",
    label=_("The service's Patchworks API key"),
    saved=lambda request: credentials.saved_service_key(),
    save=credentials.save_service_key,
    remove=credentials.remove_service_key,
    saved_message=_(
        "Patchworks accepted the service key, and it is saved. It ends in {last_four}. "
        "The check for changes made outside the console uses it from its next run."
    ),
    removed_message=_("The service key is removed from the console."),
    not_saved=_("The service key was not saved."),
    kind="service",
    extra_context=_service_key_status,
)


def _key_page(
    request: HttpRequest,
    page: KeyPage,
    form: ApiKeyForm,
    *,
    confirm_remove: bool = False,
    status: int = 200,
) -> TemplateResponse:
    credential = page.saved(request)
    context = {
        "form": form,
        "credential": credential,
        "confirm_remove": confirm_remove and credential is not None,
        "next": safe_next(request),
        **page.extra_context(),
    }
    return TemplateResponse(request, page.template, context, status=status)


@sensitive_variables()
def _save(request: HttpRequest, page: KeyPage) -> HttpResponse:
    form = ApiKeyForm(request.POST, label=page.label)
    if not form.is_valid():
        return _key_page(request, page, form, status=400)
    try:
        credential = page.save(request.user, form.cleaned_data["api_key"])
    except credentials.ApiKeyRejected as exc:
        form.add_error("api_key", exc.message)
        return _key_page(request, page, form, status=400)
    except PatchworksError as exc:
        form.add_error(None, f"{page.not_saved} {exc.message}")
        return _key_page(request, page, form, status=502)
    _record_key(request, page, AuditEvent.Action.API_KEY_SAVED, credential.last_four)
    messages.success(request, page.saved_message.format(last_four=credential.last_four))
    return redirect(safe_next(request, request.path))


def _record_key(request: HttpRequest, page: KeyPage, action: str, last_four: str = "") -> None:
    after = {"key": page.kind}
    if last_four:
        after["ending"] = last_four
    try:
        audit.record_account(
            actor=audit.Actor.from_request(request),
            action=action,
            account=request.user.get_username(),
            after=after,
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record %s in the audit trail", action)


def _key_view(page: KeyPage) -> Callable[[HttpRequest], HttpResponse]:
    @never_cache
    @sensitive_post_parameters("api_key")
    @require_http_methods(["GET", "HEAD", "POST"])
    def view(request: HttpRequest) -> HttpResponse:
        blank = ApiKeyForm(label=page.label)
        if request.method != "POST":
            return _key_page(request, page, blank)
        if "save" in request.POST:
            return _save(request, page)
        if "confirm_remove" in request.POST:
            if page.remove(request.user):
                _record_key(request, page, AuditEvent.Action.API_KEY_REMOVED)
                messages.success(request, page.removed_message)
            return redirect(request.path)
        if "remove" in request.POST:
            return _key_page(request, page, blank, confirm_remove=True)
        return _key_page(request, page, blank, status=400)

    return view


api_key = _key_view(MY_API_KEY)
service_key = _key_view(SERVICE_KEY)
