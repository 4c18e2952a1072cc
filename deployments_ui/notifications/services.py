"""What the notification pages call: people's subscriptions, admins' webhooks, test posts."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.db.models import Count, Max, Q

from deployments_ui import audit
from deployments_ui.accounts import crypto
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.notifications import sending
from deployments_ui.notifications.models import Delivery, Subscription, Webhook

LOG_LENGTH = 50


def subscription_list(*, user) -> list[Subscription]:
    return list(Subscription.objects.filter(user=user).order_by("id"))


def subscription_get(*, user, subscription_id: int) -> Subscription | None:
    """The person's own subscription, or None (nobody sees or edits another's)."""
    return Subscription.objects.filter(user=user, pk=subscription_id).first()


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_create(*, form, owner, actor: Actor) -> tuple[Webhook, str]:
    """Save a valid WebhookForm with a new secret; returns it with the secret, shown once."""
    secret = new_secret()
    webhook = form.save(commit=False)
    webhook.owner = owner
    webhook.encrypted_secret = crypto.encrypt(secret)
    with transaction.atomic():
        webhook.save()
        _record(actor, f"Added the webhook “{webhook.name}”", None, _described(webhook))
    return webhook, secret


def webhook_save(*, form, actor: Actor) -> Webhook:
    """Save an edited webhook; audited with what it was and what it is now."""
    before = _described(Webhook.objects.get(pk=form.instance.pk))
    with transaction.atomic():
        webhook = form.save()
        _record(actor, f"Changed the webhook “{webhook.name}”", before, _described(webhook))
    return webhook


def webhook_delete(*, webhook: Webhook, actor: Actor) -> None:
    with transaction.atomic():
        before = _described(webhook)
        webhook.delete()
        _record(actor, f"Deleted the webhook “{before['name']}”", before, None)


def _described(webhook: Webhook) -> dict:
    """What the trail keeps of a webhook: never its secret, token or full address."""
    return {
        "name": webhook.name,
        "address": webhook.shown_url,
        "format": webhook.get_format_display(),
        "active": webhook.is_active,
    }


def _record(actor: Actor, message: str, before: dict | None, after: dict | None) -> None:
    audit.record_local(
        actor=actor,
        action=AuditEvent.Action.WEBHOOK,
        target=DeploymentRef(),
        message=message,
        before=before,
        after=after,
    )


def webhook_list() -> list[Webhook]:
    """Webhooks with their waiting and failed counts and last delivery time."""
    return list(
        Webhook.objects.select_related("owner").annotate(
            waiting=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)),
            last_delivered_at=Max("deliveries__delivered_at"),
        )
    )


def webhook_log(webhook: Webhook) -> list[Delivery]:
    return list(webhook.deliveries.order_by("-id")[:LOG_LENGTH])


def webhook_send_test(webhook: Webhook) -> Delivery:
    """Post a test message now; the delivery says how it went."""
    return sending.send_test(webhook)
