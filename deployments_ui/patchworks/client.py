"""The Patchworks Core API client: the endpoints, their parameters and their results.

Each method builds one request, hands it to `transport` (timeouts, retries, the key kept out of
sight) and turns the answer into the result types. Every failure is one `PatchworksError`
subclass (see errors) with a message written for the person at the screen. The API key never
appears in logs, messages, reprs or tracebacks.

The rest of the console imports it, its result types and its errors from
`deployments_ui.patchworks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

from django.views.decorators.debug import sensitive_variables

from deployments_ui.core.kept import Kept
from deployments_ui.patchworks import allowance, budget, shared, transport
from deployments_ui.patchworks.errors import (
    GONE_DEPLOYMENT,
    GONE_FLOW,
    GONE_FLOW_VERSION,
    GONE_LIST,
    GONE_RUN,
    GONE_RUNS,
    AllowanceUsedUp,
    NotFound,
    PatchworksError,
    WrittenUnread,
    clean,
    malformed,
)
from deployments_ui.patchworks.runs import FlowRun, FlowRunLog, parse_flow_run, parse_flow_run_log
from deployments_ui.patchworks.types import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    Page,
    ShapeError,
    VirtualEnvironment,
    is_resource,
    parse_deployment,
    parse_flow,
    parse_flow_version,
    parse_one,
    parse_package,
    parse_page,
    parse_virtual_environment,
)

T = TypeVar("T")

DEFAULT_INCLUDES = ("flowVersion", "virtualEnvironment", "package", "enabledBy")
INCLUDES = frozenset({*DEFAULT_INCLUDES, "user"})
# The documented sort keys (`sort=key` or `sort=-key`). Other words in the API's "Available"
# list are SQL that leaked from the server, not sort keys.
SORT_KEYS = ("created_at", "enabled_at", "flow_name", "flow_version_iteration")
RUN_SORTS = ("started_at", "-started_at")
RUN_INCLUDES = frozenset({"flow", "flowVersion"})
FAILED_STATUS = 3  # the one run status Patchworks publishes


class Filter(StrEnum):
    """The deployments list's filters, as `filter[<name>]=a,b` (a comma list means any of)."""

    ENVIRONMENT = "virtual_environment_id"
    PACKAGE = "package_id"
    FLOW = "flowVersion.flow"
    NAME = "name"
    SEARCH = "LIKE"
    GLOBAL = "global"


FILTERS = frozenset(Filter)
UPDATE_FIELDS = frozenset({"virtual_environment_id", "priority", "enabled_at", "deploy_disabled"})
_PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# The client ----------------------------------------------------------------------------------


def _path_id(value: Any, not_found: str) -> str:
    """An id fit for a URL path; anything else cannot exist in Patchworks."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _PATH_ID.match(text):
        raise NotFound(not_found)
    return quote(text, safe="")


def _joined(value: str | int | Sequence[str | int]) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int):
        return str(value)
    return ",".join(str(v) for v in value)


def _include_param(include: Sequence[str]) -> dict[str, str]:
    unknown = set(include) - INCLUDES
    if unknown:
        raise ValueError(f"unknown include: {sorted(unknown)}")
    return {"include": ",".join(include)} if include else {}


def _page_params(page: int, per_page: int) -> dict[str, str]:
    # Clamped rather than refused: these come from URLs that people can edit.
    return {"page": str(max(1, int(page))), "per_page": str(min(max(1, int(per_page)), 100))}


def _name_filter(name: str | None) -> dict[str, str]:
    return {"filter[name]": name} if name else {}


class PatchworksClient:
    """Calls Patchworks with one person's (or the service's) API key."""

    __slots__ = ("_key",)

    @sensitive_variables("api_key")
    def __init__(self, api_key: str) -> None:
        if not isinstance(api_key, str):
            raise TypeError("api_key must be a string")
        self._key = transport.mask(api_key)

    def __repr__(self) -> str:
        return "<PatchworksClient>"

    # Reads -----------------------------------------------------------------------------------

    def list_deployments(
        self,
        *,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        include: Sequence[str] = DEFAULT_INCLUDES,
        sort: str | None = None,
        page: int = 1,
        per_page: int = 15,
    ) -> Page[Deployment]:
        """One page of all deployments, filtered (`filter[key]=a,b`) and sorted as asked.

        Filter keys are the API's own; unknown filter or sort keys are a ValueError.
        """
        params: dict[str, str] = {}
        for key, value in (filters or {}).items():
            if key not in FILTERS:
                raise ValueError(f"unknown filter: {key!r}")
            if _joined(value) != "":
                params[f"filter[{key}]"] = _joined(value)
        params.update(_include_param(include))
        if sort is not None:
            if sort.removeprefix("-") not in SORT_KEYS:
                raise ValueError(f"unknown sort: {sort!r}")
            params["sort"] = sort
        params.update(_page_params(page, per_page))
        answer = self._read("/flow-version-deployments", params, GONE_LIST)
        return self._page(answer, parse_deployment, page, per_page)

    def list_flow_version_deployments(
        self,
        flow_version_id: str,
        *,
        include: Sequence[str] = DEFAULT_INCLUDES,
        page: int = 1,
        per_page: int = 15,
    ) -> Page[Deployment]:
        """One page of the deployments of one flow version."""
        path = f"/flow-versions/{_path_id(flow_version_id, GONE_FLOW_VERSION)}/deployments"
        params = {**_include_param(include), **_page_params(page, per_page)}
        answer = self._read(path, params, GONE_FLOW_VERSION)
        return self._page(answer, parse_deployment, page, per_page)

    def get_deployment(
        self,
        flow_version_id: str,
        deployment_id: str,
        *,
        include: Sequence[str] = DEFAULT_INCLUDES,
        for_change: bool = False,
    ) -> Deployment:
        """One deployment, with the relations asked for.

        `for_change`: the read that guards a write. It is read from Patchworks now (never a
        shared answer) and may use the budget's reserve for changes.
        """
        with budget.for_change() if for_change else nullcontext():
            answer = self._read(
                self._deployment_path(flow_version_id, deployment_id),
                _include_param(include),
                GONE_DEPLOYMENT,
            )
        deployment = self._one(answer.body, parse_deployment, write=False)
        return replace(deployment, fetched_at=answer.fetched_at)

    def list_virtual_environments(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[VirtualEnvironment]:
        """Virtual environments that have at least one deployment (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        answer = self._read("/flow-version-deployments/virtual-environments", params, GONE_LIST)
        return self._page(answer, parse_virtual_environment, page, per_page)

    def list_packages(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[Package]:
        """Packages deployed to at least one virtual environment (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        answer = self._read("/flow-version-deployments/packages", params, GONE_LIST)
        return self._page(answer, parse_package, page, per_page)

    def list_flows(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[Flow]:
        """Process flows (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        answer = self._read("/flows", params, GONE_LIST)
        return self._page(answer, parse_flow, page, per_page)

    def list_flow_versions(
        self, flow_id: str, *, page: int = 1, per_page: int = 100
    ) -> Page[FlowVersion]:
        """One flow's versions (for pickers)."""
        path = f"/flows/{_path_id(flow_id, GONE_FLOW)}/versions"
        answer = self._read(path, _page_params(page, per_page), GONE_FLOW)
        return self._page(answer, parse_flow_version, page, per_page)

    def list_flow_runs(
        self,
        *,
        started_after: datetime | None = None,
        statuses: Sequence[int] = (),
        sort: str = "-started_at",
        include: Sequence[str] = (),
        page: int = 1,
        per_page: int = 100,
    ) -> Page[FlowRun]:
        """One page of flow runs (Patchworks keeps 7 days of them), newest first by default.

        `started_after` goes as epoch milliseconds; `statuses` are Patchworks' numbers
        (FAILED_STATUS is 3). A 404 or 403 means this key cannot read runs at all.
        """
        if sort not in RUN_SORTS:
            raise ValueError(f"unknown sort: {sort!r}")
        unknown = set(include) - RUN_INCLUDES
        if unknown:
            raise ValueError(f"unknown include: {sorted(unknown)}")
        params: dict[str, str] = {"sort": sort, **_page_params(page, per_page)}
        if include:
            params["include"] = ",".join(include)
        if statuses:
            params["filter[status]"] = ",".join(str(int(status)) for status in statuses)
        if started_after is not None:
            if started_after.tzinfo is None:
                raise ValueError("started_after must be an aware datetime")
            params["filter[started_after]"] = str(int(started_after.timestamp() * 1000))
        answer = self._read("/flow-runs", params, GONE_RUNS)
        return self._page(answer, parse_flow_run, page, per_page)

    def flow_run_logs(self, run_id: str, *, page: int = 1, per_page: int = 100) -> Page[FlowRunLog]:
        """One page of what a run wrote, oldest first (gone after 7 days: NotFound)."""
        path = f"/flow-runs/{_path_id(run_id, GONE_RUN)}/flow-run-logs"
        answer = self._read(path, _page_params(page, per_page), GONE_RUN)
        return self._page(answer, parse_flow_run_log, page, per_page)

    def raw_get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The decoded body of one GET under /api/v1, unparsed (check_patchworks looks at the
        shape itself). `path` is the console's own, never a person's input."""
        if not path.startswith("/") or ".." in path:
            raise ValueError(f"not an API path: {path!r}")
        return self._get(path, dict(params or {}), GONE_LIST)

    # Writes: never retried -------------------------------------------------------------------

    def create_deployment(
        self,
        flow_version_id: str,
        *,
        virtual_environment_id: str | None,
        priority: int | None,
        deploy_disabled: bool,
    ) -> Deployment:
        """Deploy a flow version to an environment (None: no environment, the global one)."""
        version = _path_id(flow_version_id, GONE_FLOW_VERSION)
        payload = {
            "flow_version_id": str(flow_version_id),
            "virtual_environment_id": _optional_id(virtual_environment_id),
            "priority": priority,
            "deploy_disabled": bool(deploy_disabled),
        }
        path = f"/flow-versions/{version}/deployments"
        body = self._write("POST", path, payload, GONE_FLOW_VERSION)
        if is_resource(body):
            return self._one(body, parse_deployment, write=True)
        return self._read_back(lambda: self._find_created(flow_version_id, virtual_environment_id))

    def update_deployment(
        self, flow_version_id: str, deployment_id: str, *, changes: Mapping[str, object]
    ) -> Deployment:
        """Change some of: virtual_environment_id, priority, enabled_at, deploy_disabled."""
        unknown = set(changes) - UPDATE_FIELDS
        if unknown:
            raise ValueError(f"fields that cannot be updated: {sorted(unknown)}")
        payload = {key: _update_value(key, value) for key, value in changes.items()}
        path = self._deployment_path(flow_version_id, deployment_id)
        body = self._write("PUT", path, payload, GONE_DEPLOYMENT)
        return self._written(body, flow_version_id, deployment_id)

    def delete_deployment(self, flow_version_id: str, deployment_id: str) -> str:
        """Delete a deployment permanently; returns Patchworks' message."""
        path = self._deployment_path(flow_version_id, deployment_id)
        body = self._write("DELETE", path, None, GONE_DEPLOYMENT)
        message = clean(body.get("message"), self._key) if isinstance(body, dict) else ""
        return message or "The deployment was deleted."

    def enable_deployment(self, flow_version_id: str, deployment_id: str) -> Deployment:
        """Enable a deployment so that its flow runs."""
        path = self._deployment_path(flow_version_id, deployment_id) + "/enable"
        body = self._write("POST", path, None, GONE_DEPLOYMENT)
        return self._written(body, flow_version_id, deployment_id)

    def disable_deployment(self, flow_version_id: str, deployment_id: str) -> Deployment:
        """Disable a deployment so that its flow stops running."""
        path = self._deployment_path(flow_version_id, deployment_id) + "/disable"
        body = self._write("POST", path, None, GONE_DEPLOYMENT)
        return self._written(body, flow_version_id, deployment_id)

    # Writes answered without the deployment --------------------------------------------------

    def _written(self, body: Any, flow_version_id: str, deployment_id: str) -> Deployment:
        """The deployment a 2xx write answered with, or else as read once afterwards.

        Enable and disable are published only as "200, object": a 204, a {"message": ...} or an
        unreadable body still means Patchworks did it, so the state is read back, never guessed.
        """
        if is_resource(body):
            try:
                return parse_one(body, parse_deployment)
            except ShapeError:
                pass
        return self._read_back(lambda: self.get_deployment(flow_version_id, deployment_id))

    def _find_created(self, flow_version_id: str, environment_id: str | None) -> Deployment:
        """The deployment just created: its flow version's one deployment in that environment."""
        wanted = _optional_id(environment_id)
        page = self.list_flow_version_deployments(flow_version_id, per_page=100)
        for deployment in page.items:
            if deployment.virtual_environment_id == wanted:
                return deployment
        raise NotFound(GONE_DEPLOYMENT)

    @staticmethod
    def _read_back(read: Callable[[], Deployment]) -> Deployment:
        try:
            with budget.for_change():
                return read()
        except PatchworksError as error:
            raise WrittenUnread(
                "Patchworks made the change, but did not send the deployment back and it could "
                f"not be read afterwards: {error.message} Open the deployment to see its state.",
                status=error.status,
            ) from None

    # Plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _deployment_path(flow_version_id: str, deployment_id: str) -> str:
        version = _path_id(flow_version_id, GONE_DEPLOYMENT)
        return f"/flow-versions/{version}/deployments/{_path_id(deployment_id, GONE_DEPLOYMENT)}"

    def _get(self, path: str, params: dict[str, str], not_found: str) -> Any:
        return self._call("GET", path, params=params, payload=None, not_found=not_found)

    def _read(self, path: str, params: dict[str, str], not_found: str) -> shared.Answer:
        """A read that may be shared with everyone asking the same (see shared.py)."""
        return shared.read(
            budget.key_name(self._key), path, params, lambda: self._get(path, params, not_found)
        )

    def _write(self, method: str, path: str, payload: dict[str, Any] | None, not_found: str) -> Any:
        try:
            return self._call(method, path, params=None, payload=payload, not_found=not_found)
        except AllowanceUsedUp as refusal:
            allowance.heard(refusal)
            raise
        finally:
            # Whatever the answer, Patchworks may have changed: nobody may see the old state.
            shared.forget()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        payload: dict[str, Any] | None,
        not_found: str,
    ) -> Any:
        return transport.send(
            self._key, method, path, params=params, payload=payload, not_found=not_found
        )

    def _one(self, body: Any, parse: Callable[[Any], T], *, write: bool) -> T:
        try:
            return parse_one(body, parse)
        except ShapeError:
            raise malformed(write=write) from None

    def _page(
        self, answer: shared.Answer, parse: Callable[[Any], T], page: int, per_page: int
    ) -> Page[T]:
        asked = (parse, max(1, page), min(max(1, per_page), 100), _first_of(answer.body))
        kept = _parsed.get(asked)
        if kept is not None and kept[0] == answer.body:
            return replace(kept[1], fetched_at=answer.fetched_at)
        try:
            result = parse_page(answer.body, parse, page=asked[1], per_page=asked[2])
        except ShapeError:
            raise malformed(write=False) from None
        _parsed.put(asked, (answer.body, result))
        return replace(result, fetched_at=answer.fetched_at)


# The same answer again (a list reloaded, or watched by several people) is not parsed again:
# a page depends on nothing but the answer and what was asked.
_parsed: Kept[tuple[Any, ...], tuple[Any, Page[Any]]] = Kept(16)


def _first_of(body: Any) -> Any:
    """What tells answers apart cheaply (the whole answer is compared before reuse)."""
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    return (len(data), str(data[0].get("id")))


def _optional_id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _update_value(key: str, value: object) -> object:
    if key == "virtual_environment_id":
        return _optional_id(value)
    if key == "enabled_at" and isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("enabled_at must be an aware datetime")
        return value.astimezone(UTC).isoformat()
    if key == "deploy_disabled" and value is not None:
        return bool(value)
    return value
