"""Reading deployments and the pickers, for one signed-in person with their own key.

Reads go straight to Patchworks (picker lists are cached briefly per key). Whatever a read
returns has its flow names and version numbers filled in where Patchworks left them out
(`named`), so that every page, sentence and job names deployments the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache

from deployments_ui.accounts.credentials import api_key_for
from deployments_ui.core import overlap
from deployments_ui.flow_health import (
    HealthBoard,
    OneDeployment,
    board_of,
    read_board,
    read_runs,
    runs_of_one,
)
from deployments_ui.patchworks import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    Page,
    PatchworksClient,
    PatchworksError,
    VirtualEnvironment,
    budget,
)

PICKER_PAGE_LIMIT = 10
# Reading the list to find chosen deployments: 100 a page, stopping after this many pages.
PER_PAGE = 100
MAX_READ_PAGES = 50


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


def client_for(user) -> PatchworksClient:
    """The person's own client (raises MissingApiKey when they have saved no key)."""
    return PatchworksClient(api_key_for(user))


def _key_fingerprint(user) -> str:
    """A cache namespace per key that reveals nothing about the key."""
    return hashlib.sha256(api_key_for(user).encode()).hexdigest()[:32]


# Reads


def deployment_list(*, user, query: DeploymentQuery) -> Page[Deployment]:
    """One page of all deployments, filtered and sorted as asked."""
    page = client_for(user).list_deployments(
        filters=query.filters, sort=query.sort, page=query.page, per_page=query.per_page
    )
    return _named_page(user, page)


def deployment_list_with_health(
    *, user, query: DeploymentQuery
) -> tuple[Page[Deployment], HealthBoard | None]:
    """One page of deployments and its rows' flow health (None for an empty page), the two
    upstream reads sent at once: the page waits for the slower one, not for both in turn."""
    return _with_health(user, lambda: deployment_list(user=user, query=query))


def flow_version_list_with_health(
    *, user, flow_version_id: str, page: int = 1, per_page: int = 25
) -> tuple[Page[Deployment], HealthBoard | None]:
    """`flow_version_deployment_list` and its rows' flow health, read at once."""
    return _with_health(
        user,
        lambda: flow_version_deployment_list(
            user=user, flow_version_id=flow_version_id, page=page, per_page=per_page
        ),
    )


def _with_health(user, read_page) -> tuple[Page[Deployment], HealthBoard | None]:
    client = client_for(user)
    if budget.counts_in_database():
        found, read = read_page(), read_runs(client)
    else:
        runs = overlap.started(lambda: read_runs(client))
        try:
            found = read_page()
        finally:
            read = runs.result()  # never left running after the request
    return found, (board_of(read, found.items) if found.items else None)


def flow_version_deployment_list(
    *, user, flow_version_id: str, page: int = 1, per_page: int = 25
) -> Page[Deployment]:
    """One page of the deployments of one flow version."""
    result = client_for(user).list_flow_version_deployments(
        flow_version_id, page=page, per_page=per_page
    )
    return _named_page(user, result)


def deployment_get(
    *, user, flow_version_id: str, deployment_id: str, for_change: bool = False
) -> Deployment:
    """One deployment with its flow version, environment, package and who enabled it.

    `for_change`: the read that guards a write, made now (never a shared read) and within the
    budget's reserve for changes, so that other people's page views cannot make it fail."""
    client = client_for(user)
    found = client.get_deployment(flow_version_id, deployment_id, for_change=for_change)
    return named(user, [found])[0]


def health_board(*, user, deployments: list[Deployment]) -> HealthBoard:
    """The flow health of a page of deployments: one runs request for them all, shared with
    everyone viewing a page within the same minute."""
    return read_board(client_for(user), deployments)


def deployment_runs(*, user, deployment: Deployment) -> OneDeployment:
    """One deployment's health and latest runs: the list's runs request (shared), plus its
    failing step's message when it is failing."""
    return runs_of_one(client_for(user), deployment)


def read_states(*, user, deployment_ids: list[str], filters=None) -> dict[str, Deployment]:
    """The current state of these deployments, read from the list 100 at a time (never one
    read per deployment), named like every other read.

    Patchworks' list has no filter by id, so it is read page by page (narrowed by `filters`
    when given, e.g. the environments of the items) until every id is seen or the list ends.
    """
    client = client_for(user)
    wanted = {str(pk) for pk in deployment_ids}
    found: dict[str, Deployment] = {}
    for attempt_filters in ([filters] if filters else []) + [None]:
        page = 1
        while wanted - found.keys():
            result = client.list_deployments(
                filters=attempt_filters, sort="created_at", page=page, per_page=PER_PAGE
            )
            found.update((item.id, item) for item in result.items if item.id in wanted)
            if page >= result.last_page or page >= MAX_READ_PAGES:
                break
            page += 1
        if not wanted - found.keys():
            break
    return {item.id: item for item in named(user, list(found.values()))}


def pickers_get(*, user) -> Pickers:
    """Environments, packages and flows to choose from, cached briefly per key."""
    cache_key = f"pickers:{_key_fingerprint(user)}"
    pickers = cache.get(cache_key)
    if pickers is None:
        client = client_for(user)
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
        client = client_for(user)
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
    return replace(page, items=named(user, page.items))


def named(user, deployments: list[Deployment]) -> list[Deployment]:
    """The deployments with missing flow names, version numbers and environments (their name
    and type, which change control needs) filled where known."""
    deployments = _placed(user, deployments)
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


def _placed(user, deployments: list[Deployment]) -> list[Deployment]:
    """Environments Patchworks named only by id, or left untyped, taken from the pickers."""
    unplaced = [
        d
        for d in deployments
        if d.virtual_environment_id
        and (d.virtual_environment is None or not d.virtual_environment.type)
    ]
    if not unplaced:
        return deployments
    try:
        environments = {e.id: e for e in pickers_get(user=user).environments}
    except PatchworksError:
        return deployments
    return [
        replace(d, virtual_environment=environments[str(d.virtual_environment_id)])
        if d in unplaced and str(d.virtual_environment_id) in environments
        else d
        for d in deployments
    ]


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


def environment_or_none(user, environment_id: str | None) -> VirtualEnvironment | None:
    try:
        return environment_named(user=user, environment_id=environment_id)
    except PatchworksError:
        return None
