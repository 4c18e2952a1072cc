"""What the views call. Each function acts for one signed-in person, with that person's own key.

Reads go straight to Patchworks (picker lists are cached briefly per key). Every write is
checked against the current state first, recorded in the audit trail before it is sent,
and completed in the trail with its outcome afterwards.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from deployments_ui import audit
from deployments_ui.accounts.credentials import MissingApiKey, api_key_for
from deployments_ui.audit import Actor, AuditTarget
from deployments_ui.errors import ConsoleError
from deployments_ui.models import AuditEvent
from deployments_ui.patchworks import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    Page,
    PatchworksClient,
    PatchworksError,
    RateLimited,
    Unauthorized,
    VirtualEnvironment,
)
from deployments_ui.vocabulary import EDITABLE_FIELDS

logger = logging.getLogger(__name__)
Action = AuditEvent.Action
PICKER_PAGE_LIMIT = 10


class ActionRefused(ConsoleError):
    """The console declined to send a write; the reason is in plain words."""

    http_status = 409

    def __init__(self, message: str, deployment: Deployment | None = None) -> None:
        super().__init__(message)
        self.deployment = deployment


class AlreadyInState(ActionRefused):
    """Someone else already enabled (or disabled) the deployment."""


class ChangedSinceOpened(ActionRefused):
    """The deployment changed in Patchworks after the form was opened."""

    deployment: Deployment

    def __init__(self, message: str, deployment: Deployment, changes: list[str]) -> None:
        super().__init__(message, deployment)
        self.changes = changes


@dataclass(frozen=True)
class DeploymentQuery:
    """Everything that selects a page of the deployments list, as the API names it."""

    filters: dict[str, str] = field(default_factory=dict)
    sort: str | None = None
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class Pickers:
    environments: list[VirtualEnvironment]
    packages: list[Package]
    flows: list[Flow]


def _client_for(user) -> PatchworksClient:
    return _NamingClient(api_key_for(user), user)


class _NamingClient(PatchworksClient):
    """The person's client, whose deployments come back with their flow names and version
    numbers filled in from the cached pickers when Patchworks left them out (see `_named`)."""

    __slots__ = ("_user",)

    def __init__(self, api_key: str, user) -> None:
        super().__init__(api_key)
        self._user = user

    def list_deployments(self, **kwargs) -> Page[Deployment]:
        return _named_page(self._user, super().list_deployments(**kwargs))

    def list_flow_version_deployments(self, *args, **kwargs) -> Page[Deployment]:
        return _named_page(self._user, super().list_flow_version_deployments(*args, **kwargs))

    def get_deployment(self, *args, **kwargs) -> Deployment:
        return _named(self._user, [super().get_deployment(*args, **kwargs)])[0]

    def create_deployment(self, *args, **kwargs) -> Deployment:
        return _named(self._user, [super().create_deployment(*args, **kwargs)])[0]

    def update_deployment(self, *args, **kwargs) -> Deployment:
        return _named(self._user, [super().update_deployment(*args, **kwargs)])[0]

    def enable_deployment(self, *args, **kwargs) -> Deployment:
        return _named(self._user, [super().enable_deployment(*args, **kwargs)])[0]

    def disable_deployment(self, *args, **kwargs) -> Deployment:
        return _named(self._user, [super().disable_deployment(*args, **kwargs)])[0]


def _key_fingerprint(user) -> str:
    """A cache namespace per key that reveals nothing about the key."""
    return hashlib.sha256(api_key_for(user).encode()).hexdigest()[:32]


# Reads


def deployment_list(*, user, query: DeploymentQuery) -> Page[Deployment]:
    """One page of all deployments, filtered and sorted as asked."""
    return _client_for(user).list_deployments(
        filters=query.filters, sort=query.sort, page=query.page, per_page=query.per_page
    )


def flow_version_deployment_list(
    *, user, flow_version_id: str, page: int = 1, per_page: int = 25
) -> Page[Deployment]:
    """One page of the deployments of one flow version."""
    return _client_for(user).list_flow_version_deployments(
        flow_version_id, page=page, per_page=per_page
    )


def deployment_get(*, user, flow_version_id: str, deployment_id: str) -> Deployment:
    """One deployment with its flow version, environment, package and who enabled it."""
    return _client_for(user).get_deployment(flow_version_id, deployment_id)


def pickers_get(*, user) -> Pickers:
    """Environments, packages and flows to choose from, cached briefly per key."""
    cache_key = f"pickers:{_key_fingerprint(user)}"
    pickers = cache.get(cache_key)
    if pickers is None:
        client = _client_for(user)
        pickers = Pickers(
            environments=_all_pages(client.list_virtual_environments),
            packages=_all_pages(client.list_packages),
            flows=_all_pages(client.list_flows),
        )
        cache.set(cache_key, pickers, settings.PATCHWORKS_PICKER_CACHE_SECONDS)
    return pickers


def flow_versions_get(*, user, flow_id: str) -> list[FlowVersion]:
    """A flow's versions, oldest first, cached briefly per key.

    Published flow-version list items carry no version number: it is then worked out as
    Patchworks defines it, the version's 1-based position among its flow's versions by id.
    """
    cache_key = f"flow-versions:{_key_fingerprint(user)}:{flow_id}"
    versions = cache.get(cache_key)
    if versions is None:
        client = _client_for(user)
        versions = _numbered(_all_pages(lambda **kw: client.list_flow_versions(flow_id, **kw)))
        cache.set(cache_key, versions, settings.PATCHWORKS_PICKER_CACHE_SECONDS)
    return versions


def _numbered(versions: list[FlowVersion]) -> list[FlowVersion]:
    if all(version.iteration for version in versions):
        return versions
    ordered = sorted(versions, key=_id_order)
    return [
        version if version.iteration else replace(version, iteration=position)
        for position, version in enumerate(ordered, start=1)
    ]


def _id_order(item) -> tuple[int, str]:
    return (int(item.id), "") if item.id.isdigit() else (0, item.id)


# Names Patchworks left out
#
# A deployment may arrive without its flow's name (`flowVersion.flow` is not an allowed include)
# or its version number. They are filled from what the console already holds: the flows picker
# (cached, and loaded by the list page anyway) and the flows' version lists. On a warm cache this
# costs no request; on a cold one, the flows picker plus one request per flow still unnumbered,
# at most PATCHWORKS_FILL_VERSION_LISTS of them per page view.


def _named_page(user, page: Page[Deployment]) -> Page[Deployment]:
    return replace(page, items=_named(user, page.items))


def _named(user, deployments: list[Deployment]) -> list[Deployment]:
    """The deployments with missing flow names and version numbers filled where known."""
    if all(d.flow_name and d.flow_version_iteration for d in deployments):
        return deployments
    flow_names = _flow_names(user) if any(not d.flow_name for d in deployments) else {}
    numbers = _version_numbers(
        user, {d.flow_id for d in deployments if d.flow_id and not d.flow_version_iteration}
    )
    filled = []
    for deployment in deployments:
        changes: dict[str, Any] = {}
        if not deployment.flow_name and flow_names.get(deployment.flow_id):
            changes["flow_name"] = flow_names[deployment.flow_id]
        if not deployment.flow_version_iteration and numbers.get(deployment.flow_version_id):
            changes["flow_version_iteration"] = numbers[deployment.flow_version_id]
        filled.append(replace(deployment, **changes) if changes else deployment)
    return filled


def _flow_names(user) -> dict[str, str]:
    try:
        flows = pickers_get(user=user).flows
    except PatchworksError:
        return {}
    return {flow.id: flow.name for flow in flows if flow.name}


def _version_numbers(user, flow_ids: set[str]) -> dict[str, int]:
    """Version id to number for these flows: cached lists first, then a few fetched."""
    numbers: dict[str, int] = {}
    fetched = 0
    for flow_id in sorted(flow_ids):
        cached = cache.get(f"flow-versions:{_key_fingerprint(user)}:{flow_id}")
        if cached is None:
            if fetched >= settings.PATCHWORKS_FILL_VERSION_LISTS:
                continue
            fetched += 1
            try:
                cached = flow_versions_get(user=user, flow_id=flow_id)
            except PatchworksError:
                continue
        numbers.update((v.id, v.iteration) for v in cached if v.iteration)
    return numbers


def _all_pages(fetch) -> list:
    items, page = [], 1
    while True:
        result = fetch(page=page, per_page=100)
        items.extend(result.items)
        if page >= min(result.last_page, PICKER_PAGE_LIMIT):
            return items
        page += 1


def environment_named(*, user, environment_id: str | None) -> VirtualEnvironment | None:
    """The picker entry for an environment id, if the pickers know it."""
    if not environment_id:
        return None
    for environment in pickers_get(user=user).environments:
        if environment.id == environment_id:
            return environment
    return None


def _environment_or_none(user, environment_id: str | None) -> VirtualEnvironment | None:
    try:
        return environment_named(user=user, environment_id=environment_id)
    except PatchworksError:
        return None


# Writes


def deployment_set_enabled(
    *,
    actor: Actor,
    user,
    flow_version_id: str,
    deployment_id: str,
    enabled: bool,
    reason: str = "",
    note: str = "",
    controls=None,
) -> Deployment:
    """Enable or disable a deployment, unless it is already in that state.

    The scheduled-change worker calls this too (`note` says when it was due and how late).
    `controls` (a `changes.services.Controls`) carries what change control checks: the typed
    environment name, an Admin's freeze override, the approved request being applied.
    """
    action = Action.ENABLE if enabled else Action.DISABLE
    target = AuditTarget(deployment_id=deployment_id, flow_version_id=flow_version_id)
    client = _client_or_refuse(actor, user, action, target, reason)
    current = _read_for_write(actor, client, action, target, reason, flow_version_id, deployment_id)
    target = AuditTarget.from_deployment(current)
    if current.is_enabled == enabled:
        message = _already_message(current)
        audit.record_refusal(
            actor=actor,
            action=action,
            target=target,
            message=message,
            reason=reason,
            before=audit.deployment_state(current),
        )
        raise AlreadyInState(message, current)
    before = audit.deployment_state(current)
    after = {**before, "enabled": enabled}
    _control(actor, user, action, target, (current,), before, after, {}, reason, controls, current)
    send = client.enable_deployment if enabled else client.disable_deployment
    return _send_write(
        actor,
        action,
        target,
        before,
        after,
        reason,
        lambda: send(flow_version_id, deployment_id),
        note=note,
    )


def deployment_create(
    *,
    actor: Actor,
    user,
    flow_version_id: str,
    virtual_environment_id: str | None,
    priority: int | None,
    deploy_disabled: bool,
    flow_name: str = "",
    reason: str = "",
    controls=None,
) -> Deployment:
    """Deploy a flow version into an environment (or globally)."""
    target = AuditTarget(
        flow_version_id=flow_version_id,
        flow_name=flow_name,
        environment_id=virtual_environment_id or "",
    )
    client = _client_or_refuse(actor, user, Action.CREATE, target, reason)
    environment = _environment_or_none(user, virtual_environment_id)
    if environment:
        target = replace(
            target, environment_name=environment.name, environment_type=environment.type
        )
    after = {
        "virtual_environment_id": virtual_environment_id,
        "priority": priority,
        "enabled": not deploy_disabled,
    }
    proposed = {
        "virtual_environment_id": virtual_environment_id,
        "priority": priority,
        "deploy_disabled": deploy_disabled,
    }
    where = environment or _environment_ref(virtual_environment_id)
    _control(actor, user, Action.CREATE, target, (where,), None, after, proposed, reason, controls)
    return _send_write(
        actor,
        Action.CREATE,
        target,
        None,
        after,
        reason,
        lambda: client.create_deployment(
            flow_version_id,
            virtual_environment_id=virtual_environment_id,
            priority=priority,
            deploy_disabled=deploy_disabled,
        ),
    )


def deployment_update(
    *,
    actor: Actor,
    user,
    current: Deployment,
    changes: dict[str, Any],
    opened_values: dict[str, Any],
    reason: str = "",
    controls=None,
) -> Deployment:
    """Change a deployment, refusing if it changed in Patchworks since the form was opened.

    `current` is the deployment as read from Patchworks in this same request.
    """
    target = AuditTarget.from_deployment(current)
    client = _client_or_refuse(actor, user, Action.UPDATE, target, reason)
    differences = changed_fields(opened_values, editable_values(current))
    if differences:
        message = "This deployment was changed in Patchworks after you opened the form."
        audit.record_refusal(
            actor=actor,
            action=Action.UPDATE,
            target=target,
            message=message,
            reason=reason,
            before=audit.deployment_state(current),
            after=_jsonable(changes),
        )
        raise ChangedSinceOpened(message, current, differences)
    before = audit.deployment_state(current)
    after = {**before, **_jsonable(changes)}
    places: tuple = (current,)
    moved_to = changes.get("virtual_environment_id", current.virtual_environment_id)
    if (moved_to or None) != (current.virtual_environment_id or None):
        places += (_environment_or_none(user, moved_to) or _environment_ref(moved_to),)
    proposed = {"changes": _jsonable(changes)}
    _control(
        actor,
        user,
        Action.UPDATE,
        target,
        places,
        before,
        after,
        proposed,
        reason,
        controls,
        current,
    )
    return _send_write(
        actor,
        Action.UPDATE,
        target,
        before,
        after,
        reason,
        lambda: client.update_deployment(current.flow_version_id, current.id, changes=changes),
    )


def deployment_delete(
    *,
    actor: Actor,
    user,
    flow_version_id: str,
    deployment_id: str,
    reason: str = "",
    controls=None,
) -> Deployment:
    """Delete a deployment permanently. Returns what it was, for the confirmation message."""
    target = AuditTarget(deployment_id=deployment_id, flow_version_id=flow_version_id)
    client = _client_or_refuse(actor, user, Action.DELETE, target, reason)
    current = _read_for_write(
        actor, client, Action.DELETE, target, reason, flow_version_id, deployment_id
    )
    before = audit.deployment_state(current)
    target = AuditTarget.from_deployment(current)
    _control(
        actor, user, Action.DELETE, target, (current,), before, None, {}, reason, controls, current
    )
    _send_write(
        actor,
        Action.DELETE,
        target,
        before,
        None,
        reason,
        lambda: client.delete_deployment(flow_version_id, deployment_id),
    )
    return current


def editable_values(deployment: Deployment) -> dict[str, Any]:
    """The values an edit form shows, in a form that survives a round trip through the page."""
    values = {name: getattr(deployment, name) for name in EDITABLE_FIELDS}
    if values["enabled_at"] is not None:
        values["enabled_at"] = values["enabled_at"].isoformat()
    return values


def changed_fields(opened: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Plain names of the editable fields whose values differ."""
    return [
        label for name, label in EDITABLE_FIELDS.items() if opened.get(name) != current.get(name)
    ]


def _control(
    actor, user, action, target, places, before, after, proposed, reason, controls, current=None
) -> None:
    """Change control's gate: frozen, name not typed, or recorded as a change request instead."""
    from deployments_ui.changes import services as change_control  # it imports this module

    environments = []
    for place in places:
        ref = change_control.EnvironmentRef.of(place)
        if ref.id and not ref.type:
            # Patchworks did not say the environment's type: the pickers do (a rule may need it).
            ref = change_control.EnvironmentRef.of(_environment_or_none(user, ref.id) or ref)
        environments.append(ref)
    change = change_control.Change(
        action=action,
        target=target,
        environments=tuple(environments),
        before=before,
        after=after,
        proposed=proposed,
        reason=reason,
    )
    try:
        change_control.gate(actor=actor, user=user, change=change, controls=controls)
    except ActionRefused as refused:
        refused.deployment = refused.deployment or current
        raise


def _environment_ref(environment_id: str | None):
    """An environment known only by its id (the pickers could not name it)."""
    from deployments_ui.changes.services import EnvironmentRef

    return EnvironmentRef(id=str(environment_id or ""))


def _client_or_refuse(actor, user, action, target, reason) -> PatchworksClient:
    """The person's client, or a recorded refusal when they have no key."""
    try:
        return _client_for(user)
    except MissingApiKey:
        audit.record_refusal(
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            message="No Patchworks API key is saved for this person.",
        )
        raise


def _read_for_write(actor, client, action, target, reason, flow_version_id, deployment_id):
    """Read the current state before a write; a failed read is recorded as a failed attempt."""
    try:
        return client.get_deployment(flow_version_id, deployment_id, for_change=True)
    except PatchworksError as error:
        attempt = audit.record_attempt(actor=actor, action=action, target=target, reason=reason)
        audit.record_outcome(
            attempt,
            outcome=AuditEvent.Outcome.FAILED,
            upstream_status=error.status,
            message=f"Could not read the deployment first: {error.message}",
        )
        raise


def _send_write(actor, action, target, before, after, reason, send, note: str = "") -> Any:
    """Record the attempt, make the one remote write, record how it ended."""
    attempt = audit.record_attempt(
        actor=actor,
        action=action,
        target=target,
        before=before,
        after=after,
        reason=reason,
        message=note,
    )
    try:
        result = send()
    except PatchworksError as error:
        outcome = AuditEvent.Outcome.UNKNOWN if error.outcome_unknown else AuditEvent.Outcome.FAILED
        status = error.status
        if error.written:  # Patchworks accepted it (2xx); only its resulting state is unknown
            outcome, status = AuditEvent.Outcome.SUCCEEDED, None
        _record_outcome(attempt, outcome=outcome, upstream_status=status, message=error.message)
        raise
    if isinstance(result, Deployment):
        _record_outcome(
            attempt,
            outcome=AuditEvent.Outcome.SUCCEEDED,
            after=audit.deployment_state(result),
            target=AuditTarget.from_deployment(result),
        )
    else:
        _record_outcome(attempt, outcome=AuditEvent.Outcome.SUCCEEDED)
    return result


def _record_outcome(attempt, **outcome) -> None:
    """Complete the attempt; once the write was sent, failing to record it must not hide it."""
    try:
        audit.record_outcome(attempt, **outcome)
    except audit.AuditUnavailable:
        logger.exception("Could not record the outcome of audit event %s", attempt.pk)


def _already_message(deployment: Deployment) -> str:
    if deployment.is_enabled:
        who = deployment.enabled_by.name if deployment.enabled_by else "someone"
        when = deployment.enabled_at.strftime("%d %b %Y %H:%M") if deployment.enabled_at else ""
        return f"Already enabled by {who}{' on ' + when if when else ''}. Nothing was changed."
    return "Already disabled by someone else. Nothing was changed."


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in values.items()
    }


# Health


def database_ready() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def upstream_ready() -> bool:
    """Patchworks answers at all; a rejected probe key or a rate limit still proves it is
    reachable (a 429 must not turn every instance unready at once)."""
    probe = PatchworksClient(settings.CONSOLE_SERVICE_API_KEY or "readiness-probe")
    try:
        probe.list_flows(per_page=1)
    except (Unauthorized, RateLimited):
        return True
    except PatchworksError:
        return False
    return True
