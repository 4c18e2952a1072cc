"""The worker's side: send the deliveries that are due, retry with backoff, give up after a day.

A delivery is claimed by moving its `next_attempt_at` forward in one conditional UPDATE, so two
consumers never send the same one at the same moment; a consumer that dies mid-send leaves the
claim to expire and the delivery is sent again (at least once: receivers dedupe on the event id).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from deployments_ui.accounts import crypto
from deployments_ui.audit.models import AuditEvent
from deployments_ui.notifications import delivery as http
from deployments_ui.notifications import events
from deployments_ui.notifications.models import Delivery, Subscription, Webhook

logger = logging.getLogger(__name__)

CLAIM = timedelta(minutes=2)  # longer than a post's timeout and an email's
BACKOFF_BASE = 30.0  # seconds before the first retry; doubled each time
BACKOFF_CAP = 3600.0
BATCH = 200
ERROR_LIMIT = 500


@dataclass(frozen=True)
class Result:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 30 s, 1 min, 2 min, ... 1 h."""
    return timedelta(seconds=min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def deliver_due(*, now: datetime | None = None, limit: int = BATCH) -> Result:
    """Send what is due now; returns counts. Safe to run in several consumers at once."""
    now = now or timezone.now()
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .select_related("webhook", "subscription__user")
        .order_by("next_attempt_at", "id")[:limit]
    )
    digests: dict[int, list[Delivery]] = defaultdict(list)
    totals = {"sent": 0, "retrying": 0, "failed": 0}
    for item in due:
        if not _claim(item, now):
            continue
        if item.subscription and item.subscription.frequency != Subscription.Frequency.IMMEDIATE:
            digests[item.subscription.pk].append(item)
            continue
        totals[_send_one(item, now)] += 1
    for items in digests.values():
        outcome = _send_digest(items, now)
        totals[outcome] += len(items)
    return Result(**totals)


def next_due_at() -> datetime | None:
    """When the earliest waiting delivery is due (for the nudge that follows a retry)."""
    first = (
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return first


def delete_finished(*, now: datetime | None = None) -> int:
    """Delete finished deliveries older than CONSOLE_DELIVERY_KEEP_DAYS; returns how many."""
    before = (now or timezone.now()) - timedelta(days=settings.CONSOLE_DELIVERY_KEEP_DAYS)
    deleted, _ = (
        Delivery.objects.exclude(status=Delivery.Status.PENDING)
        .filter(created_at__lt=before)
        .delete()
    )
    return deleted


def send_test(webhook: Webhook) -> Delivery:
    """Post a test message now (the admin waits for it) and log it as a delivery."""
    now = timezone.now()
    item = Delivery.objects.create(
        webhook=webhook, is_test=True, kind="test", attempts=1, last_attempt_at=now
    )
    try:
        item.last_status_code = _post(webhook, events.test_data(), f"test-{item.pk}", 1)
    except (http.DeliveryRefused, http.DeliveryFailed) as exc:
        item.status = Delivery.Status.FAILED
        item.last_error = _error_text(exc)
        item.last_status_code = getattr(exc, "status", None)
    else:
        item.status = Delivery.Status.DELIVERED
        item.delivered_at = timezone.now()
    item.save()
    return item


# --- one delivery -------------------------------------------------------------------------


def _claim(item: Delivery, now: datetime) -> bool:
    claimed = Delivery.objects.filter(
        pk=item.pk, status=Delivery.Status.PENDING, next_attempt_at=item.next_attempt_at
    ).update(next_attempt_at=now + CLAIM, attempts=F("attempts") + 1, last_attempt_at=now)
    if claimed:
        item.attempts += 1
        item.last_attempt_at = now
    return bool(claimed)


def _send_one(item: Delivery, now: datetime) -> str:
    event = None
    if item.event_id is not None:
        event = AuditEvent.objects.filter(pk=item.event_id).first()
    if event is None and not item.message:
        return _finish(item, Delivery.Status.SKIPPED, error="The audit event no longer exists.")
    try:
        if item.webhook is not None:
            data = _data_of(item, event)
            status = _post(item.webhook, data, _delivery_id(item, event), item.attempts)
            return _finish(item, Delivery.Status.DELIVERED, code=status)
        subscription = item.subscription
        if subscription is None:  # a delivery goes to a webhook or to a subscription
            return _finish(
                item, Delivery.Status.SKIPPED, error="The subscription no longer exists."
            )
        user = subscription.user
        if not (user.is_active and user.email):
            return _finish(item, Delivery.Status.SKIPPED, error="The person has no email address.")
        line = _line_of(item, event)
        send_mail(_subject(line[1]), _email_text([line], subscription), None, [user.email])
        return _finish(item, Delivery.Status.DELIVERED)
    except http.DeliveryRefused as exc:
        _finish(item, Delivery.Status.FAILED, error=_error_text(exc))
        _tell_owner(item)
        return "failed"
    except Exception as exc:  # any failure is retried, none loses the delivery
        return _retry_or_fail(item, now, exc)


def _post(webhook: Webhook, data: dict, event_id: str, attempt: int) -> int:
    body = events.body_for(webhook.format, data)
    secret = crypto.decrypt(webhook.encrypted_secret)
    headers = http.signed_headers(secret, body, event_id=event_id, attempt=attempt)
    if webhook.encrypted_token:
        # Grafana (and other receivers that want one) authenticate the post with a bearer token.
        headers["Authorization"] = f"Bearer {crypto.decrypt(webhook.encrypted_token)}"
    return http.post(webhook.url, body, headers)


def _retry_or_fail(item: Delivery, now: datetime, exc: Exception) -> str:
    error = _error_text(exc)
    status = getattr(exc, "status", None)
    retry_at = now + backoff(item.attempts)
    give_up_at = item.created_at + timedelta(hours=settings.CONSOLE_WEBHOOK_RETRY_HOURS)
    if retry_at > give_up_at:
        _finish(item, Delivery.Status.FAILED, error=error, code=status)
        _tell_owner(item)
        return "failed"
    Delivery.objects.filter(pk=item.pk).update(
        next_attempt_at=retry_at, last_error=error, last_status_code=status
    )
    logger.info("Delivery %s failed (attempt %s), retrying at %s", item.pk, item.attempts, retry_at)
    return "retrying"


def _finish(item: Delivery, status: str, *, error: str = "", code: int | None = None) -> str:
    values: dict[str, object] = {"status": status, "last_error": error, "last_status_code": code}
    if status == Delivery.Status.DELIVERED:
        values["delivered_at"] = timezone.now()
    Delivery.objects.filter(pk=item.pk).update(**values)
    for name, value in values.items():
        setattr(item, name, value)
    return {"delivered": "sent", "skipped": "sent", "failed": "failed"}[status]


def _tell_owner(item: Delivery) -> None:
    """Email the admin who made the webhook that a delivery was given up on."""
    webhook = item.webhook
    if webhook is None:
        return  # an email subscription: its person is the one who would be told
    owner = webhook.owner
    if owner is None or not owner.email:
        logger.warning("Delivery %s failed and the webhook has no owner to tell", item.pk)
        return
    text = (
        f"The webhook {webhook.name!r} (to {_host(webhook.url)}) could not deliver audit event "
        f"{item.event_id} after {item.attempts} attempts.\n\nLast error: {item.last_error}\n\n"
        "The delivery log on the Webhooks settings page lists every attempt."
    )
    try:
        send_mail(f"[Deployments] Webhook {webhook.name} failed", text, None, [owner.email])
    except Exception:
        logger.warning("Could not email the owner of webhook %s", webhook.pk, exc_info=True)


def _host(url: str) -> str:
    # Only the host: a Slack-style address carries its secret in the path.
    try:
        return urlsplit(url).hostname or "its address"
    except ValueError:
        return "its address"


def _error_text(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


# --- email --------------------------------------------------------------------------------


def _send_digest(items: list[Delivery], now: datetime) -> str:
    subscription = items[0].subscription
    assert subscription is not None, "digests are grouped by their subscription"
    user = subscription.user
    if not (user.is_active and user.email):
        for item in items:
            _finish(item, Delivery.Status.SKIPPED, error="The person has no email address.")
        return "sent"
    found = AuditEvent.objects.in_bulk([item.event_id for item in items if item.event_id])
    lines = [
        _line_of(item, found.get(item.event_id) if item.event_id else None)
        for item in items
        if item.message or item.event_id in found
    ]
    lines.sort(key=lambda line: line[0])
    period = "hour" if subscription.frequency == Subscription.Frequency.HOURLY else "day"
    count = len(lines)
    subject = f"[Deployments] {count} {'event' if count == 1 else 'events'} in the last {period}"
    try:
        send_mail(subject, _email_text(lines, subscription), None, [user.email])
    except Exception as exc:
        outcomes = [_retry_or_fail(item, now, exc) for item in items]
        return "failed" if "failed" in outcomes else "retrying"
    for item in items:
        _finish(item, Delivery.Status.DELIVERED)
    return "sent"


def _subject(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    return f"[Deployments] {sentence[:120]}{'…' if len(sentence) > 120 else ''}"


# One line of an email: when, what (the event's sentence, or a flow-health message), the link.
Line = tuple[datetime, str, str]


def _line_of(item: Delivery, event: AuditEvent | None) -> Line:
    if item.message:
        return (item.created_at, item.message, events.audit_link(event) if event else "")
    assert event is not None, "a delivery without a message tells an event"
    return (event.occurred_at, events.sentence(event), events.audit_link(event))


def _data_of(item: Delivery, event: AuditEvent | None) -> dict:
    if item.message:
        return events.health_data(item.message, item.kind, event, item.created_at)
    assert event is not None, "a delivery without a message tells an event"
    return events.event_data(event, item.kind)


def _delivery_id(item: Delivery, event: AuditEvent | None) -> str:
    return f"{item.kind}-{item.pk}" if item.message or event is None else str(event.pk)


def _email_text(event_lines: list[Line], subscription: Subscription) -> str:
    zone = ZoneInfo(settings.TIME_ZONE)
    lines = []
    for moment, sentence, link in event_lines:
        lines.append(f"{moment.astimezone(zone).strftime('%d %b %Y %H:%M')}  {sentence}")
        if link:
            lines.append(f"    {link}")
    lines += [
        "",
        f"You get this because of your notification {subscription.name!r} "
        f"({subscription.get_frequency_display()}).",
        "Change or remove it on the Notifications settings page of the Deployments Console.",
    ]
    return "\n".join(lines)
