"""Drift detection: changes made in Patchworks outside the console, recorded in the audit trail.

`sync_deployments` pages through every deployment with the service key, compares each with the
snapshot taken by the previous run, and records every change that no console event explains
as an external event. The first run only takes the snapshot. A lease in the database lets one
of several instances (cron on every app server) do the work at a time, and requests are paced
so that a run stays well under Patchworks' 240 requests a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts import credentials
from deployments_ui.audit.entries import entry_queryset
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core import leases
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.drift.health import with_run_summaries
from deployments_ui.drift.models import DeploymentSnapshot
from deployments_ui.patchworks import (
    Deployment,
    NotFound,
    PatchworksClient,
    PatchworksError,
    forget_shared_reads,
)

logger = logging.getLogger(__name__)

LEASE_NAME = "sync_deployments"
LEASE_SECONDS = 120
PER_PAGE = 100
INCLUDES = ("flowVersion", "virtualEnvironment", "enabledBy", "user")
# Two requests a second at most: half the published limit, leaving the rest to people.
DEFAULT_MIN_INTERVAL = 0.5
# Console events this close before the previous run may not be in its snapshot yet.
CLOCK_MARGIN = timedelta(seconds=5)
MAX_DELETION_CHECKS = 25
# An attempt with no outcome yet (pending) may have been made: it explains a change too.
EXPLAINING_OUTCOMES = ("succeeded", "unknown", "pending")


class SyncError(Exception):
    """The run could not finish; nothing was recorded and the snapshot was kept."""


@dataclass
class SyncResult:
    pages: int = 0
    requests: int = 0
    seen: int = 0
    changes: int = 0
    seconds: float = 0.0
    baseline: bool = False
    skipped: bool = False
    deployments: list[Deployment] = field(default_factory=list, repr=False)  # every one seen


@dataclass(frozen=True)
class Change:
    """One change seen in Patchworks, ready to become an external audit event."""

    action: str
    target: DeploymentRef
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor_name: str
    occurred_at: datetime
    message: str


@dataclass
class _Pacer:
    """Keeps consecutive requests at least `interval` seconds apart."""

    interval: float
    requests: int = 0
    _last: float = field(default=-1e9)

    def call(self, request: Callable[[], Any]) -> Any:
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        self.requests += 1
        return request()


def sync_deployments(
    *, api_key: str | None = None, min_interval: float | None = None, holder: str | None = None
) -> SyncResult:
    """Run drift detection once. Returns `skipped=True` when another instance holds the lease.

    Raises SyncError (in plain words) when there is no service key, Patchworks fails, or the
    audit trail cannot be written; in every such case nothing is recorded.
    """
    started = time.monotonic()
    api_key = api_key if api_key is not None else credentials.service_api_key()
    if not api_key:
        raise SyncError(
            "No service key: an admin can save one on the console's Service key page "
            "(or set CONSOLE_SERVICE_API_KEY), then run this again."
        )
    holder = holder or leases.holder_name()
    if not leases.acquire(LEASE_NAME, holder, LEASE_SECONDS):
        return SyncResult(skipped=True, seconds=time.monotonic() - started)
    try:
        result = _sync(PatchworksClient(api_key), _pacer(min_interval), holder)
    finally:
        leases.release(LEASE_NAME, holder)
    result.seconds = time.monotonic() - started
    return result


def last_finished() -> datetime | None:
    """When a run last finished its work (None: it never has, so the next run is a baseline)."""
    return leases.last_completed(LEASE_NAME)


def _sync(client: PatchworksClient, pacer: _Pacer, holder: str) -> SyncResult:
    run_at = timezone.now()
    last_run = last_finished()
    previous = {row.deployment_id: row for row in DeploymentSnapshot.objects.all()}
    current, complete, pages = _fetch_all(client, pacer, holder)
    missing = [previous[key] for key in previous.keys() - current.keys()]
    deleted, kept = _confirm_deletions(client, pacer, missing, complete)
    # An empty snapshot after a finished run is an account that had no deployments then.
    baseline = not previous and last_run is None
    result = SyncResult(pages=pages, seen=len(current), baseline=baseline)
    result.deployments = list(current.values())
    changes: list[Change] = []
    if not baseline:
        since = min((row.seen_at for row in previous.values()), default=last_run)
        assert since is not None  # not a baseline: there were rows, or a finished run
        changes = detect_changes(previous, current, deleted, since=since, now=run_at)
        changes = unexplained(changes, since=since - CLOCK_MARGIN)
        changes = with_run_summaries(changes, current, client, pacer.call)
    try:
        with transaction.atomic():
            if not leases.renew(LEASE_NAME, holder, LEASE_SECONDS):
                raise SyncError("Another instance took over the sync; this run recorded nothing.")
            for change in changes:
                audit.record_external(**_event_fields(change))
            _replace_snapshot(current, kept, run_at)
            leases.mark_completed(LEASE_NAME, holder, run_at)
    except audit.AuditUnavailable as exc:
        raise SyncError(
            "The audit trail could not be written, so nothing was recorded; "
            "the next run will try again."
        ) from exc
    if changes:
        # Pages must not go on showing the state from before these outside changes.
        forget_shared_reads()
    result.changes = len(changes)
    result.requests = pacer.requests
    return result


# Reading Patchworks


def _fetch_all(
    client: PatchworksClient, pacer: _Pacer, holder: str
) -> tuple[dict[str, Deployment], bool, int]:
    """Every deployment by id, whether the listing held still while we paged, and the pages.

    Oldest first, so that deployments created meanwhile land on the last page instead of
    shifting the others; a deletion meanwhile can still hide one, which `complete` reveals.
    """
    seen: dict[str, Deployment] = {}
    number, totals = 1, set()
    while True:
        page = _read(
            partial(
                client.list_deployments,
                include=INCLUDES,
                sort="created_at",
                page=number,
                per_page=PER_PAGE,
            ),
            pacer,
        )
        totals.add(page.total)
        seen.update((item.id, item) for item in page.items)
        if number >= page.last_page or not page.items:
            break
        number += 1
        if not leases.renew(LEASE_NAME, holder, LEASE_SECONDS):
            raise SyncError("Another instance took over the sync; this run stopped.")
    complete = len(totals) == 1 and len(seen) == page.total
    return seen, complete, number


def _confirm_deletions(
    client: PatchworksClient,
    pacer: _Pacer,
    missing: list[DeploymentSnapshot],
    complete: bool,
) -> tuple[list[DeploymentSnapshot], list[DeploymentSnapshot]]:
    """Split deployments missing from the listing into deleted ones and ones to keep as they were.

    A complete listing is trusted. Otherwise each is asked for (up to a limit): a 404 means
    deleted; anything else keeps the old snapshot until a later run can tell.
    """
    if complete:
        return missing, []
    deleted, kept = [], []
    for number, row in enumerate(missing):
        if number >= MAX_DELETION_CHECKS:
            kept.append(row)
            continue
        try:
            pacer.call(partial(client.get_deployment, row.flow_version_id, row.deployment_id))
        except NotFound:
            deleted.append(row)
            continue
        except PatchworksError:
            pass
        kept.append(row)
    return deleted, kept


def _read(request: Callable[[], Any], pacer: _Pacer) -> Any:
    try:
        return pacer.call(request)
    except PatchworksError as error:
        raise SyncError(f"Patchworks could not list the deployments: {error.message}") from error


# Comparing


def detect_changes(
    previous: dict[str, DeploymentSnapshot],
    current: dict[str, Deployment],
    deleted: Iterable[DeploymentSnapshot],
    *,
    since: datetime,
    now: datetime,
) -> list[Change]:
    """Every difference between the snapshot and the current listing, as Change records."""
    window = f"changed {_between(since, now)}; seen by the console's check"
    changes: list[Change] = []
    for row in deleted:
        before = row.state.get("values")
        target = DeploymentRef(**row.state.get("target", {}))
        changes.append(Change("delete", target, before, None, "", now, window))
    for key, deployment in current.items():
        old = previous.get(key)
        changes.extend(_changes_of(old, deployment, since=since, now=now, window=window))
    return changes


def _changes_of(
    old: DeploymentSnapshot | None,
    deployment: Deployment,
    *,
    since: datetime,
    now: datetime,
    window: str,
) -> list[Change]:
    new = audit.deployment_state(deployment)
    target = DeploymentRef.of(deployment)
    enabler = deployment.enabled_by.name if deployment.enabled_by else ""
    enabled_when = _within(deployment.enabled_at, since, now)
    changed_when = _within(deployment.updated_at, since, now)
    if old is None:
        creator = deployment.user.name if deployment.user else ""
        created_when = _within(deployment.created_at, since, now)
        found = [Change("create", target, None, new, creator, created_when, window)]
        if new["enabled"]:
            found.append(Change("enable", target, None, new, enabler, enabled_when, _seen()))
        return found
    before = old.state.get("values", {})
    found = []
    if new["enabled"] and (not before.get("enabled") or _enabled_again(before, new)):
        found.append(Change("enable", target, before, new, enabler, enabled_when, _seen()))
    elif before.get("enabled") and not new["enabled"]:
        found.append(Change("disable", target, before, new, "", changed_when, window))
    moved = [key for key in ("priority", "virtual_environment_id") if before.get(key) != new[key]]
    if moved:
        found.append(Change("update", target, before, new, "", changed_when, window))
    return found


def unexplained(changes: list[Change], *, since: datetime) -> list[Change]:
    """The changes that no console write since `since` (succeeded or unknown) accounts for."""
    claims = _console_claims(since)
    return [change for change in changes if not _explains(claims, change)]


@dataclass(frozen=True)
class _Claim:
    """What a console write said a deployment would look like afterwards."""

    action: str
    deployment_ids: frozenset[str]
    state: dict[str, Any]
    confirmed: bool
    flow_version_id: str
    environment_id: str


def _console_claims(since: datetime) -> list[_Claim]:
    """Console writes that may explain a change: those made or answered since `since`, and
    any still without an outcome, however long ago they were asked for (a write that waited
    for the budget, or whose worker stopped)."""
    recent = Q(occurred_at__gte=since) | Q(results__occurred_at__gte=since)
    attempts = (
        entry_queryset()
        .filter(
            source=AuditEvent.Source.CONSOLE,
            outcome=AuditEvent.Outcome.PENDING,
            final_outcome__in=EXPLAINING_OUTCOMES,
        )
        .filter(recent | Q(final_outcome=AuditEvent.Outcome.PENDING))
        .distinct()
    )
    claims = []
    for attempt in attempts:
        results = list(attempt.results.all())
        result_after = next((row.after for row in results if isinstance(row.after, dict)), None)
        ids = {attempt.deployment_id, *(row.deployment_id for row in results)} - {""}
        claims.append(
            _Claim(
                action=attempt.action,
                deployment_ids=frozenset(ids),
                state=result_after or attempt.after or {},
                confirmed=result_after is not None,
                flow_version_id=attempt.flow_version_id,
                environment_id=attempt.environment_id,
            )
        )
    return claims


def _explains(claims: list[_Claim], change: Change) -> bool:
    new = change.after or {}
    for claim in claims:
        if change.action == "create":
            if claim.action == "create" and _same_new_deployment(claim, change):
                return True
            continue
        if change.target.deployment_id not in claim.deployment_ids:
            continue
        if change.action == "delete" and claim.action == "delete":
            return True
        if change.action in ("enable", "disable") and _claims_enabled(claim, new):
            return True
        if change.action == "update" and _claims_values(claim, change):
            return True
    return False


def _same_new_deployment(claim: _Claim, change: Change) -> bool:
    if claim.deployment_ids:
        return change.target.deployment_id in claim.deployment_ids
    return (claim.flow_version_id, claim.environment_id) == (
        change.target.flow_version_id,
        change.target.environment_id,
    )


def _claims_enabled(claim: _Claim, new: dict[str, Any]) -> bool:
    expected = {"enable": True, "disable": False}.get(claim.action, claim.state.get("enabled"))
    if expected is None or bool(expected) != new.get("enabled"):
        return False
    # An enable the console saw succeed names its time: a later re-enable is someone else's.
    if new.get("enabled") and claim.confirmed and claim.state.get("enabled_at"):
        return _same_time(claim.state["enabled_at"], new.get("enabled_at"))
    return True


def _claims_values(claim: _Claim, change: Change) -> bool:
    if claim.action not in ("update", "create"):
        return False
    before, new = change.before or {}, change.after or {}
    for key in ("priority", "virtual_environment_id"):
        moved = before.get(key) != new.get(key)
        if moved and key in claim.state and _text(claim.state[key]) != _text(new.get(key)):
            return False
    return True


# Writing


def _event_fields(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        "target": change.target,
        "before": change.before,
        "after": change.after,
        "actor_name": change.actor_name,
        "occurred_at": change.occurred_at,
        "message": change.message,
    }


def _replace_snapshot(
    current: dict[str, Deployment], kept: list[DeploymentSnapshot], run_at: datetime
) -> None:
    rows = [
        DeploymentSnapshot(
            deployment_id=key,
            flow_version_id=deployment.flow_version_id,
            state={
                "values": audit.deployment_state(deployment),
                "target": asdict(DeploymentRef.of(deployment)),
            },
            seen_at=run_at,
        )
        for key, deployment in current.items()
    ]
    rows += [
        DeploymentSnapshot(
            deployment_id=row.deployment_id,
            flow_version_id=row.flow_version_id,
            state=row.state,
            seen_at=row.seen_at,
        )
        for row in kept
    ]
    DeploymentSnapshot.objects.all().delete()
    DeploymentSnapshot.objects.bulk_create(rows, batch_size=500)


# Small helpers


def _pacer(min_interval: float | None) -> _Pacer:
    if min_interval is None:
        min_interval = getattr(settings, "CONSOLE_SYNC_MIN_INTERVAL", DEFAULT_MIN_INTERVAL)
    return _Pacer(max(0.0, float(min_interval)))


def _enabled_again(before: dict[str, Any], new: dict[str, Any]) -> bool:
    return bool(before.get("enabled_at")) and not _same_time(
        before.get("enabled_at"), new.get("enabled_at")
    )


def _same_time(first: Any, second: Any) -> bool:
    return _parse(first) == _parse(second)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _within(moment: datetime | None, since: datetime, now: datetime) -> datetime:
    """Patchworks' own time for a change when it falls between the two runs, else now."""
    return moment if moment is not None and since < moment <= now else now


def _between(since: datetime, now: datetime) -> str:
    """'between 09:00 and 09:01 GMT on 28 Nov 2026', shorter when both fall on one day."""
    first, last = timezone.localtime(since), timezone.localtime(now)
    if first.date() == last.date():
        return f"between {first:%H:%M} and {last:%H:%M %Z} on {last:%d %b %Y}"
    return f"between {first:%d %b %Y %H:%M} and {last:%d %b %Y %H:%M %Z}"


def _seen() -> str:
    return "seen by the console's check"


def _text(value: Any) -> str:
    return "" if value is None else str(value)
