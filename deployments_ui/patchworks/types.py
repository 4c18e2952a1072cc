"""What the console reads from Patchworks: small frozen dataclasses and tolerant parsing.

Patchworks does not publish its response bodies in detail, so parsing accepts every variant we
know of: fields at the top level or under `attributes` (JSON:API), relations in camelCase or
snake_case, related records inline or as JSON:API identifiers resolved from `included[]` by
type and id, single resources wrapped in {"data": ...} or bare, ids as numbers or strings.
A JSON:API resource's own `type` ("virtual-environments") is never read as one of its fields.
Unknown fields are ignored and missing optional ones become None or "". Only a body that is not
an object at all, or an item without an id, counts as a shape error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django.utils.translation import gettext

from deployments_ui.core.vocabulary import GLOBAL_ENVIRONMENT_NAME, UNNAMED_FLOW

logger = logging.getLogger(__name__)

T = TypeVar("T")
# An answer at least this old says its age on the page.
DATED_SECONDS = 10


class ShapeError(ValueError):
    """The body is not shaped like anything we can read."""


@dataclass(frozen=True, slots=True)
class PatchworksUser:
    id: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    name: str
    priority: int | None


@dataclass(frozen=True, slots=True)
class FlowVersion:
    id: str
    flow_id: str
    iteration: int | None
    status: str
    flow: Flow | None


@dataclass(frozen=True, slots=True)
class VirtualEnvironment:
    id: str
    name: str
    type: str

    @property
    def is_live(self) -> bool:
        return self.type == "live"


@dataclass(frozen=True, slots=True)
class Package:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    flow_version_id: str
    virtual_environment_id: str | None
    package_id: str | None
    priority: int | None
    enabled_at: datetime | None
    enabled_by_id: str | None
    user_id: str | None
    flow_name: str
    is_global: bool
    flow_version_iteration: int | None
    created_at: datetime | None
    updated_at: datetime | None
    flow_version: FlowVersion | None
    virtual_environment: VirtualEnvironment | None
    package: Package | None
    enabled_by: PatchworksUser | None
    user: PatchworksUser | None
    # When Patchworks gave this answer (seconds since the epoch); it may have served others too.
    fetched_at: float | None = field(default=None, compare=False)

    @property
    def age_seconds(self) -> int:
        """How old the answer is, in whole seconds (0 when not known)."""
        return _age_seconds(self.fetched_at)

    @property
    def is_dated(self) -> bool:
        """Old enough that a page should say so ("as of 12 seconds ago")."""
        return self.age_seconds >= DATED_SECONDS

    @property
    def is_enabled(self) -> bool:
        return self.enabled_at is not None

    @property
    def flow_id(self) -> str:
        return self.flow_version.flow_id if self.flow_version else ""

    @property
    def environment_name(self) -> str:
        if self.virtual_environment is not None and self.virtual_environment.name:
            return self.virtual_environment.name
        if self.is_global or self.virtual_environment_id is None:
            return GLOBAL_ENVIRONMENT_NAME
        # The environment was not included in the response: show its id rather than nothing.
        return f"Environment {self.virtual_environment_id}"

    @property
    def environment_type(self) -> str:
        return self.virtual_environment.type if self.virtual_environment else ""

    @property
    def flow_label(self) -> str:
        """The flow's name, or what is known instead: never an empty cell."""
        if self.flow_name:
            return self.flow_name
        return UNNAMED_FLOW

    @property
    def version_label(self) -> str:
        """'Version 3', or a plain 'Version number not available'."""
        if self.flow_version_iteration:
            return gettext("Version %(number)d") % {"number": self.flow_version_iteration}
        return gettext("Version number not available")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    current_page: int
    last_page: int
    per_page: int
    from_index: int | None
    to_index: int | None
    # When Patchworks gave this answer (seconds since the epoch); it may have served others too.
    fetched_at: float | None = field(default=None, compare=False)

    @property
    def age_seconds(self) -> int:
        """How old the answer is, in whole seconds (0 when not known)."""
        return _age_seconds(self.fetched_at)

    @property
    def is_dated(self) -> bool:
        """Old enough that a page should say so ("as of 12 seconds ago")."""
        return self.age_seconds >= DATED_SECONDS

    @property
    def has_next(self) -> bool:
        return self.current_page < self.last_page

    @property
    def has_previous(self) -> bool:
        return self.current_page > 1


def _age_seconds(fetched_at: float | None) -> int:
    return max(0, int(time.time() - fetched_at)) if fetched_at is not None else 0


# Scalars -------------------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """An id as text ("42"), whatever JSON type it came as; an object gives its own id."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        return value.strip() or None
    if kind is dict:
        return _id(_fields(value).get("id"))
    if kind is float and value.is_integer():
        return str(int(value))
    return None


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no"}:
        return False
    return None


def _datetime(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text (Z, offsets, with or without fractions)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Objects -------------------------------------------------------------------------------------


JSONAPI_MEMBERS = frozenset({"attributes", "relationships", "type", "links", "meta"})


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """One flat dict of an object's fields, whether flat, under `attributes` or JSON:API.

    A JSON:API resource's `type` names the resource ("virtual-environments"), not a field of
    it: it is left out, so that an environment's own test/live `type` attribute is what counts.
    """
    if "attributes" not in obj and "relationships" not in obj:
        return obj  # the usual, flat shape: nothing to merge
    attributes = obj.get("attributes")
    relationships = obj.get("relationships")
    merged: dict[str, Any] = {}
    if isinstance(relationships, dict):
        for name, rel in relationships.items():
            if isinstance(rel, dict) and isinstance(rel.get("data"), dict):
                merged[name] = rel["data"]
    if isinstance(attributes, dict):
        merged.update(attributes)
    merged.update((k, v) for k, v in obj.items() if k not in JSONAPI_MEMBERS)
    return merged


def _first(fields: dict[str, Any], *names: str) -> Any:
    for name in names:
        if fields.get(name) is not None:
            return fields[name]
    return None


def _related(fields: dict[str, Any], *names: str) -> dict[str, Any] | None:
    value = _first(fields, *names)
    return value if type(value) is dict else None


def _required_fields(obj: Any) -> tuple[dict[str, Any], str]:
    """An object's fields and its id; a ShapeError if it is not an object with an id."""
    if type(obj) is not dict:
        raise ShapeError(f"expected an object, got {type(obj).__name__}")
    fields = _fields(obj)
    ident = _id(fields.get("id"))
    if ident is None:
        raise ShapeError("object without an id")
    return fields, ident


def _optional(parse: Callable[[Any], T], obj: dict[str, Any] | None) -> T | None:
    if obj is None:
        return None
    try:
        return parse(obj)
    except ShapeError:
        return None


def parse_user(obj: Any) -> PatchworksUser:
    f, ident = _required_fields(obj)
    return PatchworksUser(id=ident, name=_str(f.get("name")), email=_str(f.get("email")))


def parse_flow(obj: Any) -> Flow:
    f, ident = _required_fields(obj)
    return Flow(id=ident, name=_str(f.get("name")), priority=_int(f.get("priority")))


def parse_flow_version(obj: Any) -> FlowVersion:
    f, ident = _required_fields(obj)
    flow = _optional(parse_flow, _related(f, "flow"))
    return FlowVersion(
        id=ident,
        flow_id=_id(_first(f, "flow_id", "flowId")) or (flow.id if flow else ""),
        iteration=_int(_first(f, "iteration", "flow_version_iteration", "flowVersionIteration")),
        status=_str(f.get("status")),
        flow=flow,
    )


# What a serializer that flattens JSON:API leaves in `type`: the resource's name, not test/live.
RESOURCE_TYPE_NAMES = frozenset(
    {"virtual-environments", "virtual_environments", "virtualenvironments", "virtual-environment"}
    | {"virtual_environment", "virtualenvironment", "environments", "environment"}
)


def parse_virtual_environment(obj: Any) -> VirtualEnvironment:
    f, ident = _required_fields(obj)
    kind = _str(_first(f, "environment_type", "environmentType", "type")).strip().lower()
    return VirtualEnvironment(
        id=ident, name=_str(f.get("name")), type="" if kind in RESOURCE_TYPE_NAMES else kind
    )


def parse_package(obj: Any) -> Package:
    f, ident = _required_fields(obj)
    return Package(id=ident, name=_str(f.get("name")))


def parse_deployment(obj: Any) -> Deployment:
    """Read one deployment in any of the shapes described at the top of this module."""
    f, ident = _required_fields(obj)
    flow_version = _optional(parse_flow_version, _related(f, "flowVersion", "flow_version"))
    flow_version = _with_flow(flow_version, f)
    environment = _optional(
        parse_virtual_environment, _related(f, "virtualEnvironment", "virtual_environment")
    )
    package = _optional(parse_package, _related(f, "package"))
    enabled_by = _optional(parse_user, _related(f, "enabledBy", "enabled_by"))
    user = _optional(parse_user, _related(f, "user"))
    environment_id = _id(f.get("virtual_environment_id")) or (environment and environment.id)
    is_global = _bool(f.get("global"))
    flow = flow_version.flow if flow_version else None
    iteration = _int(_first(f, "flow_version_iteration", "flowVersionIteration", "iteration"))
    return Deployment(
        id=ident,
        flow_version_id=_id(f.get("flow_version_id")) or (flow_version.id if flow_version else ""),
        virtual_environment_id=environment_id or None,
        package_id=_id(f.get("package_id")) or (package.id if package else None),
        priority=_int(f.get("priority")),
        enabled_at=_datetime(f.get("enabled_at")),
        enabled_by_id=_id(_first(f, "enabled_by_id", "enabled_by", "enabledBy")),
        user_id=_id(f.get("user_id")) or (user.id if user else None),
        flow_name=_str(_first(f, "flow_name", "flowName", "name")) or (flow.name if flow else ""),
        is_global=is_global if is_global is not None else not environment_id,
        flow_version_iteration=iteration
        if iteration is not None
        else (flow_version.iteration if flow_version else None),
        created_at=_datetime(f.get("created_at")),
        updated_at=_datetime(f.get("updated_at")),
        flow_version=flow_version,
        virtual_environment=environment,
        package=package,
        enabled_by=enabled_by,
        user=user,
    )


def _with_flow(version: FlowVersion | None, f: dict[str, Any]) -> FlowVersion | None:
    """The deployment's flow version, completed with a flow (or flow id) given beside it."""
    flow = _optional(parse_flow, _related(f, "flow"))
    flow_id = _id(_first(f, "flow_id", "flowId")) or (flow.id if flow else None)
    if version is None:
        version_id = _id(_first(f, "flow_version_id", "flowVersionId"))
        if not version_id or not flow_id:
            return None
        return FlowVersion(id=version_id, flow_id=flow_id, iteration=None, status="", flow=flow)
    if version.flow is None and flow is not None:
        version = replace(version, flow=flow)
    if not version.flow_id and flow_id:
        version = replace(version, flow_id=flow_id)
    return version


def parse_one(body: Any, parse: Callable[[Any], T]) -> T:
    """A single resource, wrapped in {"data": {...}} or bare; JSON:API's `included[]` resolved."""
    index = _included(body)
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    return parse(_resolve(body, index))


def is_resource(body: Any) -> bool:
    """Whether a write's answer carries the resource (an object with an id), wrapped or bare."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    return isinstance(body, dict) and _id(_fields(body).get("id")) is not None


# JSON:API included[] -------------------------------------------------------------------------

Index = dict[tuple[str, str], dict[str, Any]]
MAX_DEPTH = 4


def _included(body: Any) -> Index:
    """JSON:API's compound-document side list, by (type, id)."""
    raw = body.get("included") if isinstance(body, dict) else None
    index: Index = {}
    for resource in raw if isinstance(raw, list) else []:
        if isinstance(resource, dict) and isinstance(resource.get("type"), str):
            ident = _id(resource.get("id"))
            if ident is not None:
                index[(resource["type"], ident)] = resource
    return index


def _resolve(obj: Any, index: Index, depth: int = 0) -> Any:
    """The resource with each relationship identifier replaced by its included record."""
    if not index or type(obj) is not dict or depth > MAX_DEPTH:
        return obj
    relationships = obj.get("relationships")
    if not isinstance(relationships, dict):
        return obj
    resolved: dict[str, Any] = {}
    for name, rel in relationships.items():
        data = rel.get("data") if isinstance(rel, dict) else None
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            full = index.get((data["type"], _id(data.get("id")) or ""))
            if full is not None:
                rel = {**rel, "data": _resolve(full, index, depth + 1)}
        resolved[name] = rel
    return {**obj, "relationships": resolved}


# Pages ---------------------------------------------------------------------------------------


def parse_page(body: Any, parse: Callable[[Any], T], *, page: int, per_page: int) -> Page[T]:
    """A Laravel paginator page. Reads `meta` (or paginator fields at the top level) only;
    when they are missing the numbers are worked out from what was asked for and received."""
    if isinstance(body, list):
        body = {"data": body}
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ShapeError("expected a page with a data list")
    index = _included(body)
    items = _parse_items([_resolve(item, index) for item in body["data"]], parse)
    meta: dict[str, Any] = body["meta"] if isinstance(body.get("meta"), dict) else body
    if isinstance(meta.get("page"), dict):
        # JSON:API paginators (laravel-json-api) nest the numbers, camelCase: meta.page.lastPage.
        meta = {_snake(key): value for key, value in meta["page"].items()}
    current = _int(meta.get("current_page")) or page
    size = _int(meta.get("per_page")) or per_page
    first = _int(meta.get("from"))
    if first is None and "from" not in meta and items:
        first = (current - 1) * size + 1
    last_index = _int(meta.get("to"))
    if last_index is None and "to" not in meta and first is not None:
        last_index = first + len(items) - 1
    total = _int(meta.get("total"))
    if total is None:
        total = (current - 1) * size + len(items)
    last_page = _int(meta.get("last_page"))
    if last_page is None:
        last_page = current + 1 if _has_next_link(body) else max(current, -(-total // size))
    return Page(items, total, current, max(last_page, 1), size, first, last_index)


def _parse_items(raw: list[Any], parse: Callable[[Any], T]) -> list[T]:
    items: list[T] = []
    for entry in raw:
        try:
            items.append(parse(entry))
        except ShapeError as exc:
            # A row without an id cannot be linked to or acted on: leave it out, say so.
            logger.warning("patchworks: skipped an unreadable list item (%s)", exc)
    return items


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _has_next_link(body: dict[str, Any]) -> bool:
    # Read, never followed: only whether Patchworks says there is a next page.
    links = body.get("links")
    return isinstance(links, dict) and bool(links.get("next"))
