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
from deployments_ui.notifications import events, sending
from deployments_ui.notifications.models import Delivery, Subscription, Webhook

LOG_LENGTH = 50


def subscription_list(*, user) -> list[Subscription]:
    return list(Subscription.objects.filter(user=user).order_by("id"))


def subscription_get(*, user, subscription_id: int) -> Subscription | None:
    """The person's own subscription, or None (nobody sees or edits another's)."""
    return Subscription.objects.filter(user=user, pk=subscription_id).first()


def subscription_create(*, form, user, actor: Actor) -> Subscription:
    """Save a valid SubscriptionForm as the person's own; audited with what it sends."""
    subscription = form.save(commit=False)
    subscription.user = user
    with transaction.atomic():
        subscription.save()
        _record(
            actor,
            AuditEvent.Action.SUBSCRIPTION,
            f"Added the notification “{subscription.name}”",
            None,
            _subscription_words(subscription),
        )
    return subscription


def subscription_save(*, form, actor: Actor) -> Subscription:
    """Save an edited subscription; audited with what it was and what it is now."""
    before = _subscription_words(Subscription.objects.get(pk=form.instance.pk))
    with transaction.atomic():
        subscription = form.save()
        after = _subscription_words(subscription)
        if after != before:
            message = f"Changed the notification “{subscription.name}”"
            _record(actor, AuditEvent.Action.SUBSCRIPTION, message, before, after)
    return subscription


def subscription_delete(*, subscription: Subscription, actor: Actor) -> None:
    with transaction.atomic():
        before = _subscription_words(subscription)
        subscription.delete()
        message = f"Removed the notification “{before['Name']}”"
        _record(actor, AuditEvent.Action.SUBSCRIPTION, message, before, None)


def _subscription_words(subscription: Subscription) -> dict:
    """What the trail keeps of a subscription, in plain words (never its address)."""
    return {
        "Name": subscription.name,
        "For": subscription.user.get_username(),
        "How often": subscription.get_frequency_display(),
        **filter_words(subscription),
    }


def filter_words(rule) -> dict:
    """A subscription's or webhook's filters in plain words ("any" where none is chosen)."""
    actions = dict(AuditEvent.Action.choices)
    return {
        "Kinds of event": ", ".join(events.KINDS.get(kind, kind) for kind in rule.kinds) or "any",
        "Environment types": ", ".join(rule.environment_types) or "any",
        "Environments": ", ".join(str(item) for item in rule.environment_ids) or "any",
        "Actions": ", ".join(actions.get(item, item) for item in rule.actions) or "any",
        "Flow name contains": rule.flow_name_contains or "—",
        "Only problems": "yes" if rule.only_problems else "no",
    }


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
        message = f"Added the webhook “{webhook.name}”"
        _record(actor, AuditEvent.Action.WEBHOOK, message, None, _described(webhook))
    return webhook, secret


def webhook_save(*, form, actor: Actor) -> Webhook:
    """Save an edited webhook; audited with what it was and what it is now."""
    before = _described(Webhook.objects.get(pk=form.instance.pk))
    with transaction.atomic():
        webhook = form.save()
        message = f"Changed the webhook “{webhook.name}”"
        _record(actor, AuditEvent.Action.WEBHOOK, message, before, _described(webhook))
    return webhook


def webhook_delete(*, webhook: Webhook, actor: Actor) -> None:
    with transaction.atomic():
        before = _described(webhook)
        webhook.delete()
        message = f"Deleted the webhook “{before['name']}”"
        _record(actor, AuditEvent.Action.WEBHOOK, message, before, None)


def _described(webhook: Webhook) -> dict:
    """What the trail keeps of a webhook: never its secret, token or full address."""
    return {
        "name": webhook.name,
        "address": webhook.shown_url,
        "format": webhook.get_format_display(),
        "active": webhook.is_active,
        **filter_words(webhook),
    }


def _record(
    actor: Actor, action: str, message: str, before: dict | None, after: dict | None
) -> None:
    audit.record_local(
        actor=actor,
        action=action,
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
