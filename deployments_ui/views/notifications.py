"""Notification settings: each person's email subscriptions, and the admins' webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deployments_ui.audit import Actor
from deployments_ui.core.http import SignedInRequest
from deployments_ui.forms.notifications import SubscriptionForm, WebhookForm
from deployments_ui.notifications import services
from deployments_ui.notifications.models import Delivery, Webhook


@require_http_methods(["GET", "POST"])
def notification_settings(request: SignedInRequest) -> HttpResponse:
    """The person's subscriptions, and a form to add one."""
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        subscription = services.subscription_create(
            form=form, user=request.user, actor=Actor.from_request(request)
        )
        messages.success(
            request,
            gettext("Saved “%(name)s”.") % {"name": subscription.name} + " " + _email_note(request),
        )
        return redirect("notification-settings")
    context = {
        "subscriptions": services.subscription_list(user=request.user),
        "form": form,
        "email": request.user.email,
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(
        request, "notifications/notification_settings.html", context, status=status
    )


@require_http_methods(["GET", "POST"])
def notification_edit(request: SignedInRequest, subscription: int) -> HttpResponse:
    found = services.subscription_get(user=request.user, subscription_id=subscription)
    if found is None:
        raise Http404("No such notification of yours.")
    form = SubscriptionForm(request.POST or None, instance=found)
    if request.method == "POST" and form.is_valid():
        services.subscription_save(form=form, actor=Actor.from_request(request))
        messages.success(request, gettext("Saved “%(name)s”.") % {"name": found.name})
        return redirect("notification-settings")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "subscription": found}
    return TemplateResponse(request, "notifications/notification_edit.html", context, status=status)


@require_POST
def notification_delete(request: SignedInRequest, subscription: int) -> HttpResponse:
    found = services.subscription_get(user=request.user, subscription_id=subscription)
    if found is None:
        raise Http404("No such notification of yours.")
    services.subscription_delete(subscription=found, actor=Actor.from_request(request))
    messages.success(
        request,
        gettext("Removed “%(name)s”: you will not be emailed about it again.")
        % {"name": found.name},
    )
    return redirect("notification-settings")


@require_GET
def webhook_list(request: SignedInRequest) -> HttpResponse:
    context = {"webhooks": services.webhook_list()}
    return TemplateResponse(request, "notifications/webhook_list.html", context)


@require_http_methods(["GET", "POST"])
def webhook_create(request: SignedInRequest) -> HttpResponse:
    """The form; on success, the one page that ever shows the secret (never stored in clear)."""
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        webhook, secret = services.webhook_create(
            form=form, owner=request.user, actor=Actor.from_request(request)
        )
        context = {"webhook": webhook, "secret": secret}
        response = TemplateResponse(request, "notifications/webhook_created.html", context)
        response["Cache-Control"] = "no-store"
        return response
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "webhook": None}
    return TemplateResponse(request, "notifications/webhook_form.html", context, status=status)


@require_GET
def webhook_detail(request: SignedInRequest, webhook: int) -> HttpResponse:
    found = get_object_or_404(Webhook.objects.select_related("owner"), pk=webhook)
    context = {"webhook": found, "log": services.webhook_log(found), "statuses": Delivery.Status}
    return TemplateResponse(request, "notifications/webhook_detail.html", context)


@require_http_methods(["GET", "POST"])
def webhook_edit(request: SignedInRequest, webhook: int) -> HttpResponse:
    found = get_object_or_404(Webhook, pk=webhook)
    form = WebhookForm(request.POST or None, instance=found)
    if request.method == "POST" and form.is_valid():
        services.webhook_save(form=form, actor=Actor.from_request(request))
        messages.success(request, gettext("Saved the webhook “%(name)s”.") % {"name": found.name})
        return redirect("webhook-detail", webhook=found.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "webhook": found}
    return TemplateResponse(request, "notifications/webhook_form.html", context, status=status)


@require_POST
def webhook_delete(request: SignedInRequest, webhook: int) -> HttpResponse:
    found = get_object_or_404(Webhook, pk=webhook)
    services.webhook_delete(webhook=found, actor=Actor.from_request(request))
    messages.success(
        request,
        gettext("Deleted the webhook “%(name)s” and its delivery log.") % {"name": found.name},
    )
    return redirect("webhook-list")


@require_POST
def webhook_test(request: SignedInRequest, webhook: int) -> HttpResponse:
    found = get_object_or_404(Webhook, pk=webhook)
    sent = services.webhook_send_test(found)
    if sent.status == Delivery.Status.DELIVERED:
        messages.success(
            request,
            gettext("The test was delivered (the receiver answered %(status)s).")
            % {"status": sent.last_status_code},
        )
    else:
        messages.error(
            request,
            gettext("The test was not delivered: %(error)s") % {"error": sent.last_error},
        )
    return redirect("webhook-detail", webhook=found.pk)


def _email_note(request: SignedInRequest) -> str:
    if request.user.email:
        return gettext("Emails go to %(email)s.") % {"email": request.user.email}
    return gettext(
        "You have no email address yet: ask an admin to add one, or nothing can be sent."
    )
