"""What a Patchworks instance actually answers, compared with what the console needs.

Patchworks publishes no deployment response body, so before going live an operator runs
`manage.py check_patchworks`: six reads, no writes (one page of deployments; the environments,
packages and flows lists; one flow's versions; one flow run). This module names the shape it
sees and every field the console needs and did not find, saying for each whether the console
can make up for it (from the pickers) or what the person at the screen will miss; and whether
flow runs can be read at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from deployments_ui.patchworks.client import DEFAULT_INCLUDES, PatchworksClient
from deployments_ui.patchworks.errors import Forbidden, NotFound, PatchworksError
from deployments_ui.patchworks.types import (
    Deployment,
    Flow,
    ShapeError,
    parse_deployment,
    parse_flow,
    parse_flow_version,
    parse_package,
    parse_page,
    parse_virtual_environment,
)

T = TypeVar("T")

CAMEL_RELATIONS = ("flowVersion", "virtualEnvironment", "enabledBy")
SNAKE_RELATIONS = ("flow_version", "virtual_environment", "enabled_by")


@dataclass
class Finding:
    """One field the console needs that was not in the answers."""

    what: str
    consequence: str
    blocking: bool  # True: the console cannot make up for it


@dataclass
class Report:
    shape: str = "unknown"
    requests: int = 0
    read: list[str] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Whether flow runs could be read (health beside deployments); None: not tried.
    runs_readable: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and not any(f.blocking for f in self.missing)


def shape_of(body: Any) -> str:
    """Which of the known shapes a deployments page is in."""
    items = body.get("data") if isinstance(body, dict) else body
    items = (
        [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []
    )
    if not items:
        return "unknown (no deployments to look at)"
    first = items[0]
    if "attributes" in first or "relationships" in first:
        return "jsonapi" + (" with included[]" if isinstance(body.get("included"), list) else "")
    if any(name in first for name in CAMEL_RELATIONS):
        nested = isinstance(first.get("flowVersion"), dict) and "flow" in first["flowVersion"]
        return "flat-camel" + ("" if nested else " (no flow nested in flowVersion)")
    if any(name in first for name in SNAKE_RELATIONS):
        return "flat-snake"
    return "flat, without the requested relations"


def check(client: PatchworksClient) -> Report:
    """Read what the console reads and report what it needs and did not find. Never writes."""
    report = Report()
    deployments = _read(
        report,
        "deployments",
        client.raw_get,
        "/flow-version-deployments",
        {"include": ",".join(DEFAULT_INCLUDES), "per_page": "15"},
    )
    environments = _read(
        report,
        "environments",
        client.raw_get,
        "/flow-version-deployments/virtual-environments",
        {"per_page": "100"},
    )
    packages = _read(
        report,
        "packages",
        client.raw_get,
        "/flow-version-deployments/packages",
        {"per_page": "100"},
    )
    flows_body = _read(report, "flows", client.raw_get, "/flows", {"per_page": "100"})
    if deployments is not None:
        report.shape = shape_of(deployments)
        _check_deployments(report, deployments)
    if environments is not None:
        _check_environments(report, environments)
    if packages is not None:
        _check_list(report, packages, parse_package, "packages", ("name",), "package names")
    flows: list[Flow] = []
    if flows_body is not None:
        flows = _check_list(report, flows_body, parse_flow, "flows", ("name",), "flow names")
    if flows:
        flow_id = flows[0].id
        path = f"/flows/{flow_id}/versions"
        versions = _read(
            report, f"flow {flow_id}'s versions", client.raw_get, path, {"per_page": "100"}
        )
        if versions is not None:
            _check_versions(report, versions)
    _check_runs(report, client)
    return report


RUNS_NOT_READABLE = "not readable"


def _check_runs(report: Report, client: PatchworksClient) -> None:
    """Whether this key may read flow runs. Not being able to is not blocking: the console then
    shows no health beside deployments, and tells admins once."""
    report.requests += 1
    try:
        client.raw_get("/flow-runs", {"per_page": "1", "sort": "-started_at"})
    except (NotFound, Forbidden) as error:
        report.runs_readable = False
        report.missing.append(
            Finding(
                f"flow runs: {RUNS_NOT_READABLE} (Patchworks answered {error.status or 404})",
                "no health is shown beside deployments; admins see one notice saying so",
                blocking=False,
            )
        )
        return
    except PatchworksError as error:
        report.runs_readable = False
        report.missing.append(
            Finding(
                f"flow runs: could not be read ({error.message})",
                "no health is shown beside deployments while this lasts",
                blocking=False,
            )
        )
        return
    report.runs_readable = True
    report.read.append("flow runs")


def _read(
    report: Report,
    what: str,
    get: Callable[[str, Mapping[str, str]], Any],
    path: str,
    params: dict[str, str],
) -> Any:
    report.requests += 1
    try:
        body = get(path, params)
    except PatchworksError as error:
        report.failures.append(f"Reading {what} failed: {error.message}")
        return None
    report.read.append(what)
    return body


def _page(report: Report, body: Any, parse: Callable[[Any], T], what: str) -> list[T]:
    try:
        page = parse_page(body, parse, page=1, per_page=100)
    except ShapeError:
        report.failures.append(f"The {what} answer is not a list the console can read.")
        return []
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict) or not ({"last_page", "total"} & set(meta) or "page" in meta):
        report.missing.append(
            Finding(
                f"{what}: paginator meta (last_page, total)",
                "page counts are worked out from the items and the next link",
                blocking=False,
            )
        )
    return page.items


def _absent(items: list[T], test: Callable[[T], object]) -> bool:
    return bool(items) and all(not test(item) for item in items)


def _check_deployments(report: Report, body: Any) -> None:
    items = _page(report, body, parse_deployment, "deployments")
    if not items:
        return
    checks = [
        (
            "deployment: flow version id",
            lambda d: d.flow_version_id,
            "deployments cannot be opened or changed",
            True,
        ),
        (
            "deployment: enabled_at",
            lambda d: _raw_has(body, "enabled_at"),
            "every deployment would look disabled",
            True,
        ),
        (
            "deployment: flow name (name, flow_name or flowVersion.flow.name)",
            lambda d: d.flow_name,
            "filled from the flows list by the flow id"
            if _all_have_flow_ids(items)
            else "shown as 'Unnamed flow'",
            not _all_have_flow_ids(items),
        ),
        (
            "deployment: flow id (flowVersion.flow_id or its flow relationship)",
            lambda d: d.flow_id,
            "flow names and version numbers cannot be filled in",
            True,
        ),
        (
            "deployment: version number (iteration, flow_version_iteration, flowVersion.iteration)",
            lambda d: d.flow_version_iteration,
            "numbered from the flow's versions list, one request per flow on a cold cache",
            False,
        ),
        (
            "deployment: environment (virtualEnvironment include)",
            lambda d: d.virtual_environment or d.is_global,
            "environments shown by id, without test/live",
            True,
        ),
        (
            "deployment: environment type (test or live)",
            lambda d: d.environment_type or d.is_global,
            "the live-environment warning cannot be shown",
            True,
        ),
        (
            "deployment: package (package include)",
            lambda d: d.package,
            "the package column shows —",
            False,
        ),
        (
            "deployment: enabled by (enabledBy include)",
            lambda d: d.enabled_by or not d.is_enabled,
            "who enabled it in Patchworks shows —; the console's audit still knows its own",
            False,
        ),
        ("deployment: created_at", lambda d: d.created_at, "the created column shows —", False),
        (
            "deployment: updated_at",
            lambda d: d.updated_at,
            "edits cannot tell a change made meanwhile by its time (values are still compared)",
            False,
        ),
    ]
    for what, test, consequence, blocking in checks:
        if _absent(items, test):
            report.missing.append(Finding(what, consequence, blocking))


def _raw_has(body: Any, name: str) -> bool:
    items = body.get("data") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            raw = item.get("attributes")
            attributes = raw if isinstance(raw, dict) else {}
            if name in item or name in attributes:
                return True
    return False


def _all_have_flow_ids(items: list[Deployment]) -> bool:
    return all(d.flow_id for d in items)


def _check_environments(report: Report, body: Any) -> None:
    items = _page(report, body, parse_virtual_environment, "environments")
    if _absent(items, lambda e: e.name):
        report.missing.append(Finding("environments: name", "environment pickers show ids", True))
    if _absent(items, lambda e: e.type in {"test", "live"}):
        report.missing.append(
            Finding(
                "environments: type (test or live)",
                "the live-environment warning cannot be shown",
                True,
            )
        )


def _check_list(
    report: Report,
    body: Any,
    parse: Callable[[Any], T],
    what: str,
    needed: tuple[str, ...],
    label: str,
) -> list[T]:
    items = _page(report, body, parse, what)
    for name in needed:
        if _absent(items, attrgetter(name)):
            report.missing.append(Finding(f"{what}: {name}", f"{label} cannot be shown", True))
    return items


def _check_versions(report: Report, body: Any) -> None:
    items = _page(report, body, parse_flow_version, "flow versions")
    if _absent(items, lambda v: v.iteration):
        report.missing.append(
            Finding(
                "flow versions: iteration (version number)",
                "numbered by position among the flow's versions (oldest first), as Patchworks "
                "defines it",
                False,
            )
        )
    if _absent(items, lambda v: v.status):
        report.missing.append(
            Finding("flow versions: status", "the picker shows 'status unknown'", False)
        )
