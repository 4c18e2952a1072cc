"""Reading deployments and the pickers, for one signed-in person with their own key.

Reads go straight to Patchworks (picker lists are cached briefly per key). Whatever a read
returns has its flow names and version numbers filled in where Patchworks left them out
(`named`), so that every page, sentence and job names deployments the same way.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

from deployments_ui.accounts.credentials import api_key_for
from deployments_ui.core import overlap
from deployments_ui.core.kept import Kept
from deployments_ui.flow_health import (
    HealthBoard,
    OneDeployment,
    RunsRead,
    board_of,
    keep_runs,
    read_board,
    read_runs,
    runs_of_one,
    runs_this_minute,
)
from deployments_ui.patchworks import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    Page,
    PatchworksClient,
    PatchworksError,
    RateLimited,
    VirtualEnvironment,
    budget,
)

T = TypeVar("T")

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


# The last answer to each list read in this process, for the next page to be prepared from.
_last_answers: Kept[tuple, _Answered] = Kept(32)
PICKERS_HELD_SECONDS = 10
_pickers_held: Kept[str, tuple[float, Pickers]] = Kept(64)


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


def deployment_list_reading(*, user, query: DeploymentQuery) -> ListReading:
    """One page of all deployments being read, filtered and sorted as asked, with its rows'
    flow health."""
    client = client_for(user)
    return ListReading(
        user,
        lambda: client.list_deployments(
            filters=query.filters, sort=query.sort, page=query.page, per_page=query.per_page
        ),
        ("deployments", repr(query)),
    )


def flow_version_list_reading(
    *, user, flow_version_id: str, page: int = 1, per_page: int = 25
) -> ListReading:
    """One page of the deployments of one flow version being read, with their flow health."""
    client = client_for(user)
    return ListReading(
        user,
        lambda: client.list_flow_version_deployments(flow_version_id, page=page, per_page=per_page),
        ("flow-version", flow_version_id, page, per_page),
    )


@dataclass(frozen=True)
class _Answered:
    raw: Page[Deployment]
    page: Page[Deployment]
    runs: RunsRead
    board: HealthBoard | None


class ListReading:
    """A page of deployments on its way from Patchworks, and its rows' flow health.

    The list and the runs are read at once (the page waits for the slower, not for both in
    turn; the runs only once a minute per key, see `runs_this_minute`). Meanwhile `guessed()`
    is what the same read answered last time in this process, so that a page can be prepared
    while the answer travels; `as_guessed` says, once `result()` is in, whether the answer is
    the same, so that the page prepared is the page to show. Nothing is guessed across keys.
    """

    def __init__(self, user, read: Callable[[], Page[Deployment]], name: tuple) -> None:
        key = _key_fingerprint(user)
        client = client_for(user)
        self._user, self._name = user, (key, settings.PATCHWORKS_BASE_URL, *name)
        runs = runs_this_minute(key)
        self._last = _last_answers.get(self._name) if runs is not None else None
        if self._last is not None and self._last.runs is not runs:
            self._last = None
        self.as_guessed = False

        def runs_read() -> RunsRead:
            return runs if runs is not None else keep_runs(key, read_runs(client))

        self._read, self._runs_read = read, runs_read
        self._degraded = budget.degraded()
        if budget.counts_in_database():
            self._last = None
            self._raw, self._runs = _done(read), _done(runs_read)
        else:
            self._raw = overlap.started(read)
            self._runs = _done(runs_read) if runs is not None else overlap.started(runs_read)

    def guessed(self) -> tuple[Page[Deployment], HealthBoard | None] | None:
        """The last answer to the same read (as if new: its age is not known to be the
        answer's), or None."""
        if self._last is None:
            return None
        return replace(self._last.page, fetched_at=None), self._last.board

    def result(self) -> tuple[Page[Deployment], HealthBoard | None]:
        """The page and its board (None for an empty page); raises the read's PatchworksError."""
        try:
            raw = overlap.result_here(self._raw, self._read)
        finally:
            # Never left running after the request.
            runs = overlap.result_here(self._runs, self._runs_read)
        last = self._last
        if last and raw == last.raw and runs is last.runs and self._unchanged(raw):
            self.as_guessed = True
            return last.page, last.board
        page = _named_page(self._user, raw)
        board = board_of(runs, page.items) if page.items else None
        _last_answers.put(self._name, _Answered(raw, page, runs, board))
        return page, board

    def _unchanged(self, raw: Page[Deployment]) -> bool:
        """Whether a page prepared before the answer still says what one rendered now would:
        not when the answer says its age, nor when the read found Redis gone (a banner)."""
        return not raw.is_dated and budget.degraded() == self._degraded


def _done(call: Callable[[], T]) -> Future[T]:
    """`call()` made now, as a finished future (its result, or its error)."""
    future: Future[T] = Future()
    try:
        future.set_result(call())
    except BaseException as error:
        future.set_exception(error)
    return future


def flow_version_deployment_list(
    *, user, flow_version_id: str, page: int = 1, per_page: int = 25
) -> Page[Deployment]:
    """One page of the deployments of one flow version."""
    result = client_for(user).list_flow_version_deployments(
        flow_version_id, page=page, per_page=per_page
    )
    return _named_page(user, result)


def deployment_get(
    *,
    user,
    flow_version_id: str,
    deployment_id: str,
    for_change: bool = False,
    ahead: Future[Deployment] | None = None,
) -> Deployment:
    """One deployment with its flow version, environment, package and who enabled it.

    `for_change`: the read that guards a write, made now (never a shared read) and within the
    budget's reserve for changes, so that other people's page views cannot make it fail.
    `ahead`: that read, started earlier for this person and deployment (`change_read_started`).
    """
    client = client_for(user)

    def read() -> Deployment:
        return client.get_deployment(flow_version_id, deployment_id, for_change=for_change)

    found = read() if ahead is None else overlap.result_here(ahead, read)
    return named(user, [found])[0]


def change_read_started(*, user, flow_version_id: str, deployment_id: str) -> Future | None:
    """The read that guards a change, sent now from another thread so that the checks before
    the change run while it travels; None when it must wait to be made on this thread."""
    if budget.counts_in_database():
        return None
    client = client_for(user)
    return overlap.started(
        lambda: client.get_deployment(flow_version_id, deployment_id, for_change=True)
    )


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
    """Environments, packages and flows to choose from, cached briefly per key (and held by
    this process for a few seconds of that, so that a page does not unpack them each time)."""
    cache_key = f"pickers:{_key_fingerprint(user)}"
    held = _pickers_held.get(cache_key)
    if held is not None and held[0] > time.monotonic():
        return held[1]
    pickers = cache.get(cache_key)
    if pickers is None:
        client = client_for(user)
        pickers = Pickers(
            environments=_all_pages(client.list_virtual_environments),
            packages=_all_pages(client.list_packages),
            flows=_all_pages(client.list_flows),
        )
        cache.set(cache_key, pickers, settings.PATCHWORKS_PICKER_CACHE_SECONDS)
    held_for = min(PICKERS_HELD_SECONDS, settings.PATCHWORKS_PICKER_CACHE_SECONDS)
    _pickers_held.put(cache_key, (time.monotonic() + held_for, pickers))
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
                # Only from budget to spare at once: a page never waits for a number it can go
                # without ("Version number not available"), nor spends on it what people's list
                # reads need; a later view fills it.
                with budget.spare():
                    cached = flow_versions_get(user=user, flow_id=flow_id)
            except RateLimited:
                break  # no budget to spare now: nor for the next one (each ask costs a write)
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
