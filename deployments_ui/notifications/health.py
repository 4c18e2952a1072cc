"""Telling people when a live deployment's flow starts failing or stops running.

The worker reads the flow health of the live, enabled deployments now and then
(`flow_health.read_board`) and hands the board here. Each deployment's kind is compared with
the one seen before (`HealthSeen`); a move into "failing" or "not running" is told once to
the subscriptions and webhooks that asked for that kind by name, naming the deployment's last
change and who made it. The first sight of a deployment is only noted; "no recent runs seen"
changes nothing, so that a gap in what could be read never tells twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from deployments_ui.audit.entries import entry_queryset
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import actor_display
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.flow_health import HealthBoard, Kind, LastChange, ago, change_verb, explain
from deployments_ui.notifications import events, outbox
from deployments_ui.notifications.models import Delivery, HealthSeen, Subscription, Webhook
from deployments_ui.patchworks import Deployment

TOLD_KINDS = {Kind.FAILING: events.KIND_STARTED_FAILING, Kind.NOT_RUN: events.KIND_STOPPED_RUNNING}
WHAT_HAPPENED = {Kind.FAILING: "started failing", Kind.NOT_RUN: "stopped running"}
CHANGES = ("enable", "disable", "update", "create")


def watched(deployments: Iterable[Deployment]) -> list[Deployment]:
    """The deployments whose health is told: live and enabled."""
    return [d for d in deployments if d.environment_type == "live" and d.is_enabled]


def tell_changes(
    board: HealthBoard, deployments: Iterable[Deployment], *, now: datetime | None = None
) -> int:
    """Note each live deployment's health and tell the moves into failing or not running;
    returns how many deliveries were written."""
    moment = now or timezone.now()
    live = [d for d in watched(deployments) if _known(board, d)]
    seen = {
        row.deployment_id: row.kind
        for row in HealthSeen.objects.filter(deployment_id__in=[d.id for d in live])
    }
    written = 0
    for deployment in live:
        kind = str(board.rows[deployment.id].kind)
        if seen.get(deployment.id) == kind:
            continue
        with transaction.atomic():
            if not _moved(deployment.id, seen.get(deployment.id), kind, moment):
                continue  # another worker noted it first
            if deployment.id in seen and Kind(kind) in TOLD_KINDS:
                written += _tell(deployment, board, moment)
    return written


def _known(board: HealthBoard, deployment: Deployment) -> bool:
    health = board.get(deployment.id)
    return health is not None and health.kind != Kind.UNKNOWN and not health.shared


def _moved(deployment_id: str, before: str | None, kind: str, moment: datetime) -> bool:
    """Note the new kind, only if it is still the one we read (compare and set): True once."""
    if before is None:
        _, created = HealthSeen.objects.get_or_create(
            deployment_id=deployment_id, defaults={"kind": kind, "seen_at": moment}
        )
        return created
    updated = HealthSeen.objects.filter(deployment_id=deployment_id, kind=before).update(
        kind=kind, seen_at=moment
    )
    return updated == 1


def _tell(deployment: Deployment, board: HealthBoard, moment: datetime) -> int:
    health = board.rows[deployment.id]
    kind = TOLD_KINDS[health.kind]
    event = last_change(deployment.id)
    # Stored and sent as it is: worded in the console's own language, whoever's request ran it.
    with translation.override(settings.LANGUAGE_CODE):
        change = _as_change(event) if event else None
        words = explain(health, change)
        message = message_for(deployment, WHAT_HAPPENED[health.kind], words, change)
    deliveries = [
        Delivery(event=event, webhook=webhook, kind=kind, message=message, next_attempt_at=moment)
        for webhook in Webhook.objects.filter(is_active=True)
        if matches(webhook, deployment, kind)
    ]
    subscriptions = Subscription.objects.filter(user__is_active=True).select_related("user")
    deliveries += [
        Delivery(
            event=event,
            subscription=subscription,
            kind=kind,
            message=message,
            next_attempt_at=outbox.send_at(subscription.frequency, moment),
        )
        for subscription in subscriptions
        if matches(subscription, deployment, kind)
        and subscription.user.has_perm("deployments_ui.view_deployments")
    ]
    Delivery.objects.bulk_create(deliveries)
    if any(item.next_attempt_at <= moment for item in deliveries):
        transaction.on_commit(outbox.nudge)
    return len(deliveries)


def matches(rule: Subscription | Webhook, deployment: Deployment, kind: str) -> bool:
    """Whether a subscription or webhook asked for this kind, here (actions do not apply)."""
    if kind not in rule.kinds:
        return False
    if rule.environment_types and deployment.environment_type not in rule.environment_types:
        return False
    if rule.environment_ids and str(deployment.virtual_environment_id) not in rule.environment_ids:
        return False
    needle = rule.flow_name_contains.strip().casefold()
    return not needle or needle in (deployment.flow_label or "").casefold()


def last_change(deployment_id: str) -> AuditEvent | None:
    """The deployment's newest change that took effect, in the console or seen outside it."""
    return (
        entry_queryset()
        .filter(deployment_id=deployment_id, action__in=CHANGES)
        .filter(final_outcome=AuditEvent.Outcome.SUCCEEDED)
        .first()
    )


def _as_change(event: AuditEvent) -> LastChange:
    verb = change_verb(event.action, event.before, event.after)
    return LastChange(actor_display(event), verb, event.occurred_at, event.reason)


def message_for(
    deployment: Deployment, happened: str, health: str, change: LastChange | None
) -> str:
    """ "Orders → ERP in UK Live started failing: Failing since 14:02, 3 minutes after Bob
    Jones changed its priority. Last change: Bob Jones changed its priority 5 minutes ago." """
    label = DeploymentRef.of(deployment).label()
    text = f"{label[:1].upper()}{label[1:]} {happened}: {health}."
    if change is None:
        return f"{text} No change to it is recorded in the console."
    reason = change.reason.strip()
    if f"{change.who} {change.verb}" in health:  # the health's words name it already
        return f"{text} Their reason: {reason}." if reason and reason not in health else text
    said = f": {reason}" if reason else ""
    return f"{text} Last change: {change.who} {change.verb} {ago(change.when)}{said}."
