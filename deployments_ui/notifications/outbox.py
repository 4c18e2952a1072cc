"""The outbox: deliveries written in the same transaction as the audit event they tell about.

The audit trail calls `fan_out` for every event it appends, inside its transaction (registered
in the app's `ready`), so an event and its deliveries are committed together or not at all. The
worker sends them later (`notifications.sending`); a nudge is queued once the transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments_ui.accounts.access import sees_everything
from deployments_ui.audit.models import AuditEvent
from deployments_ui.notifications import events
from deployments_ui.notifications.models import Delivery, Subscription, Webhook

logger = logging.getLogger(__name__)
DIGEST_HOUR = 7  # daily digests go out at 07:00 in the console's time zone


# Events about people and settings are told only to those who may see them (Admins and
# Auditors), and never when nobody signed in caused them: a failed sign-in must not let a
# stranger send mail.
ADMIN_ONLY = events.ABOUT_PEOPLE_AND_SETTINGS


def fan_out(event: AuditEvent) -> None:
    """Called by the audit trail for each appended event, inside its transaction."""
    kind = events.kind_of(event)
    if kind is None or (event.action in ADMIN_ONLY and event.user_id is None):
        return
    notify(event, kind=kind)


@dataclass(frozen=True)
class Rules:
    """Every active webhook, and every subscription of an active person (with the person)."""

    webhooks: list[Webhook]
    subscriptions: list[Subscription]


def rules_read(*, with_permissions: bool = False) -> Rules:
    """The rules as they stand; `with_permissions` also reads each subscriber's permissions."""
    subscriptions = list(Subscription.objects.filter(user__is_active=True).select_related("user"))
    if with_permissions:
        for subscription in subscriptions:
            subscription.user.get_all_permissions()
    return Rules(list(Webhook.objects.filter(is_active=True)), subscriptions)


# Rules read a moment earlier, e.g. while a change travels to Patchworks, for the outcome that
# follows it (`rules_ready`): the deliveries then cost no read on the way to the answer.
_ready: ContextVar[Rules | None] = ContextVar("notification_rules", default=None)


@contextmanager
def rules_ready(rules: Rules | None) -> Iterator[None]:
    """Events appended inside the block are told to these rules (None: as read then)."""
    token = _ready.set(rules)
    try:
        yield
    finally:
        _ready.reset(token)


def notify(event: AuditEvent, *, kind: str, audience: Iterable | None = None) -> list[Delivery]:
    """Write a delivery for every webhook and subscription whose filters let `event` through.

    `audience` (users) limits subscriptions to those people, e.g. the approvers a change request
    waits for (kind `request-for-me`). Call it inside the transaction that writes `event`.
    """
    now = timezone.now()
    audience_ids = None if audience is None else {user.pk for user in audience}
    rules = _ready.get() or rules_read()
    deliveries = [
        Delivery(event_id=event.pk, webhook=webhook, kind=kind, created_at=now, next_attempt_at=now)
        for webhook in rules.webhooks
        if events.matches(webhook, event, kind)
    ]
    for subscription in rules.subscriptions:
        if audience_ids is not None and subscription.user_id not in audience_ids:
            continue
        if not events.matches(subscription, event, kind):
            continue
        if not subscription.user.has_perm("deployments_ui.view_deployments"):
            continue
        if event.action in ADMIN_ONLY and not sees_everything(subscription.user):
            continue
        deliveries.append(
            Delivery(
                event_id=event.pk,
                subscription=subscription,
                kind=kind,
                created_at=now,
                next_attempt_at=send_at(subscription.frequency, now),
            )
        )
    if deliveries:
        Delivery.objects.bulk_create(deliveries)
        if any(delivery.next_attempt_at <= now for delivery in deliveries):
            transaction.on_commit(nudge)
    return deliveries


def send_at(frequency: str, now: datetime) -> datetime:
    """When a subscriber's delivery is due: now, or the end of the digest's hour or day."""
    if frequency == Subscription.Frequency.HOURLY:
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if frequency == Subscription.Frequency.DAILY:
        local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
        due = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
        if due <= local:
            due += timedelta(days=1)
        return due
    return now


def nudge() -> None:
    # The periodic task finds the deliveries anyway; this only saves waiting for it.
    from deployments_ui.notifications.tasks import deliver_due

    try:
        deliver_due()
    except Exception:  # a queue that cannot be reached delays, never loses
        logger.warning("Could not queue notification delivery", exc_info=True)
