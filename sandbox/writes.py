"""Validation and changes for deployment writes, with Laravel's messages and 422 shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sandbox import allowance, runs
from sandbox.models import Deployment, FlowVersion, SandboxUser, VirtualEnvironment
from sandbox.web import MAX_ID, validation_error

ONE_PER_ENVIRONMENT = "Only one version of a flow may be deployed per virtual environment."
ONE_GLOBAL = "Only one global deployment of a flow is allowed."

Errors = dict[str, list[str]]

_MISSING = object()
INTEGER = re.compile(r"[+-]?[0-9]+")
CHANGEABLE = ["virtual_environment", "priority", "enabled_at", "enabled_by", "updated_at"]


def _integer(value: Any) -> int | None:
    """Laravel's `integer` rule: ints and integer strings pass; bools and floats do not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def _boolean(value: Any) -> bool | None:
    """Laravel's `boolean` rule: true, false, 1, 0, "1", "0"."""
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    return None


def _priority(body: dict, errors: Errors) -> Any:
    value = body.get("priority", _MISSING)
    if value is _MISSING or value is None:
        return value
    number = _integer(value)
    if number is None:
        errors["priority"] = ["The priority field must be an integer."]
    elif not 1 <= number <= 5:
        errors["priority"] = ["The priority field must be between 1 and 5."]
    return number


def _environment(body: dict, errors: Errors) -> Any:
    """The chosen VirtualEnvironment, None for global, or _MISSING when not given."""
    value = body.get("virtual_environment_id", _MISSING)
    if value is _MISSING or value is None:
        return value
    number = _integer(value)
    known = number is not None and 0 < number <= MAX_ID
    env = VirtualEnvironment.objects.filter(pk=number).first() if number and known else None
    if env is None:
        errors["virtual_environment_id"] = ["The selected virtual environment id is invalid."]
    return env


def _deploy_disabled(body: dict, errors: Errors) -> bool:
    value = body.get("deploy_disabled")
    if value is None:
        return False
    flag = _boolean(value)
    if flag is None:
        errors["deploy_disabled"] = ["The deploy disabled field must be true or false."]
    return bool(flag)


def _enabled_at(body: dict, errors: Errors) -> Any:
    value = body.get("enabled_at", _MISSING)
    if value is _MISSING or value is None:
        return value
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date
        moment = None
    if moment is None:
        errors["enabled_at"] = ["The enabled at field must be a valid date."]
        return _MISSING
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _check_slot(
    flow_id: int, env: VirtualEnvironment | None, errors: Errors, exclude: int | None = None
) -> None:
    """One version of a flow per environment, and one global deployment per flow."""
    if "virtual_environment_id" in errors:
        return
    taken = Deployment.objects.filter(flow_id=flow_id, virtual_environment=env)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        errors["virtual_environment_id"] = [ONE_PER_ENVIRONMENT if env else ONE_GLOBAL]


def _check_flow_version_id(body: dict, version: FlowVersion, errors: Errors) -> None:
    value = body.get("flow_version_id")
    if value is None or value == "":
        errors["flow_version_id"] = ["The flow version id field is required."]
    elif _integer(value) != version.id:
        errors["flow_version_id"] = ["The flow version id must match the flow version in the URL."]


def _save(deployment: Deployment, fields: list[str] | None = None) -> None:
    """Save, turning a lost race for the environment slot into the same 422 as the check."""
    try:
        with transaction.atomic():
            deployment.save(update_fields=fields)
    except IntegrityError:
        message = ONE_PER_ENVIRONMENT if deployment.virtual_environment_id else ONE_GLOBAL
        raise validation_error({"virtual_environment_id": [message]}) from None


def create_deployment(version: FlowVersion, body: dict, user: SandboxUser) -> Deployment:
    errors: Errors = {}
    _check_flow_version_id(body, version, errors)
    env = _environment(body, errors)
    env = None if env is _MISSING else env
    priority = _priority(body, errors)
    disabled = _deploy_disabled(body, errors)
    _check_slot(version.flow_id, env, errors)
    if errors:
        raise validation_error(errors)
    if not disabled:
        allowance.check_room()
    now = timezone.now()
    deployment = Deployment(
        flow_version=version,
        flow_id=version.flow_id,
        virtual_environment=env,
        priority=None if priority is _MISSING else priority,
        enabled_at=None if disabled else now,
        enabled_by=None if disabled else user,
        user=user,
        created_at=now,
        updated_at=now,
    )
    _save(deployment)
    runs.sync_window(deployment)
    return deployment


def update_deployment(deployment: Deployment, body: dict, user: SandboxUser) -> bool:
    """Apply the given fields; True when anything changed (and updated_at was bumped)."""
    errors: Errors = {}
    env = _environment(body, errors)
    priority = _priority(body, errors)
    enabled_at = _enabled_at(body, errors)
    disabled = _deploy_disabled(body, errors)
    if env is not _MISSING:
        _check_slot(deployment.flow_id, env, errors, exclude=deployment.id)
    if errors:
        raise validation_error(errors)
    if deployment.enabled_at is None and enabled_at not in (_MISSING, None) and not disabled:
        allowance.check_room()
    before = _state(deployment)
    if env is not _MISSING:
        deployment.virtual_environment = env
    if priority is not _MISSING:
        deployment.priority = priority
    if enabled_at is not _MISSING:
        deployment.enabled_at = enabled_at
        deployment.enabled_by = user if enabled_at is not None else None
    if disabled:
        deployment.enabled_at = None
        deployment.enabled_by = None
    return _save_if_changed(deployment, before)


def set_enabled(deployment: Deployment, enabled: bool, user: SandboxUser) -> bool:
    """Enable (now, by this user) or disable; a deployment already in that state is untouched."""
    if (deployment.enabled_at is not None) == enabled:
        return False
    if enabled:
        allowance.check_room()
    before = _state(deployment)
    deployment.enabled_at = timezone.now() if enabled else None
    deployment.enabled_by = user if enabled else None
    return _save_if_changed(deployment, before)


def _state(deployment: Deployment) -> tuple:
    return (
        deployment.virtual_environment_id,
        deployment.priority,
        deployment.enabled_at,
        deployment.enabled_by_id,
    )


def _save_if_changed(deployment: Deployment, before: tuple) -> bool:
    if _state(deployment) == before:
        return False
    deployment.updated_at = max(timezone.now(), _later_than(deployment.updated_at))
    # Only the changeable columns, so that concurrent writes to other fields are not undone.
    _save(deployment, CHANGEABLE)
    runs.sync_window(deployment)
    return True


def _later_than(moment: datetime) -> datetime:
    # Two writes within one clock tick must still give different updated_at values, or a
    # client's "changed since I looked" check would miss the second one.
    return moment + timedelta(microseconds=1)
