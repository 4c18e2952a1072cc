"""Settling writes whose outcome the console does not know: by reading, never by writing again.

A write whose worker stopped (a killed process, a lost database) leaves its attempt without an
outcome; a write Patchworks did not answer in time leaves it "unknown". Both are settled here,
by the attempt's id: the deployment is read, and the trail records whether the change happened.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.credentials import MissingApiKey, api_key_for, service_api_key
from deployments_ui.audit.models import AuditEvent
from deployments_ui.patchworks import Deployment, NotFound, PatchworksClient, PatchworksError

logger = logging.getLogger(__name__)
Outcome = AuditEvent.Outcome
TOGGLES = (AuditEvent.Action.ENABLE, AuditEvent.Action.DISABLE)


def interrupted_after() -> timedelta:
    """How long an attempt may stand without an outcome before its write must have ended: two
    calls' timeouts and a margin."""
    one_call = settings.PATCHWORKS_CONNECT_TIMEOUT + settings.PATCHWORKS_READ_TIMEOUT
    return timedelta(seconds=2 * one_call + 10)


def made(attempt: AuditEvent, current: Deployment | None) -> bool:
    """Whether the deployment as read now shows the attempted change."""
    if attempt.action == AuditEvent.Action.DELETE:
        return current is None
    if current is None:
        return False
    if attempt.action in TOGGLES:
        return current.is_enabled == (attempt.action == AuditEvent.Action.ENABLE)
    wanted = attempt.after or {}
    now = audit.deployment_state(current)
    return all(now.get(key) == wanted.get(key) for key in ("priority", "virtual_environment_id"))


def settle(attempt_id: int | None, current: Deployment | None, *, message: str = "") -> bool:
    """Record, on the attempt itself, how a stopped write ended as read now; returns whether the
    change was made. Does nothing when the attempt already has its outcome."""
    if attempt_id is None:
        return False
    attempt = AuditEvent.objects.filter(pk=attempt_id, outcome=Outcome.PENDING).first()
    if attempt is None:
        return False
    happened = made(attempt, current)
    if attempt.results.exists():
        return happened
    words = message or _words(happened)
    try:
        audit.record_outcome(
            attempt, outcome=Outcome.SUCCEEDED if happened else Outcome.FAILED, message=words
        )
    except (audit.AuditUnavailable, ValueError):
        logger.exception("Could not settle audit event %s", attempt.pk)
    return happened


def settle_unfinished(*, limit: int = 50, within: timedelta = timedelta(days=1)) -> int:
    """Settle every attempt of the last day left without an outcome, or with an unknown one, for
    longer than a call can take: whoever made it (a person, a schedule, a bulk job, an approved
    request). Returns how many were settled."""
    now = timezone.now()
    waiting = AuditEvent.objects.filter(
        outcome=Outcome.PENDING,
        completes__isnull=True,
        occurred_at__lt=now - interrupted_after(),
        occurred_at__gte=now - within,
    ).exclude(results__outcome__in=(Outcome.SUCCEEDED, Outcome.FAILED))
    settled = 0
    for attempt in waiting.exclude(deployment_id="").order_by("id")[:limit]:
        try:
            current = _read(attempt)
        except (PatchworksError, MissingApiKey):
            continue
        if _settle_one(attempt, current):
            settled += 1
    return settled


def _settle_one(attempt: AuditEvent, current: Deployment | None) -> bool:
    happened = made(attempt, current)
    try:
        if attempt.results.filter(outcome=Outcome.UNKNOWN).exists():
            audit.record_settlement(attempt, made=happened, message=_words(happened))
        else:
            audit.record_outcome(
                attempt,
                outcome=Outcome.SUCCEEDED if happened else Outcome.FAILED,
                message=_words(happened),
            )
    except (audit.AuditUnavailable, ValueError):
        logger.exception("Could not settle audit event %s", attempt.pk)
        return False
    return True


def _words(happened: bool) -> str:
    if happened:
        return "It did happen: the deployment was read afterwards and shows the change"
    return "It did not happen: the deployment was read afterwards and is unchanged"


def _read(attempt: AuditEvent) -> Deployment | None:
    key = service_api_key()
    if not key and attempt.user is not None:
        key = api_key_for(attempt.user)
    if not key:
        raise MissingApiKey("No key to read the deployment with.")
    try:
        return PatchworksClient(key).get_deployment(attempt.flow_version_id, attempt.deployment_id)
    except NotFound:
        return None
