"""The Patchworks Core API client: the only module of the console that imports requests.

Every call has a connect and a read timeout from settings. GETs are retried a little (connection
failures, 429 and 502-504, honouring Retry-After up to a cap); writes are never retried. Every
failure becomes one `PatchworksError` subclass (see errors) with a message written for the
person at the screen. The API key never appears in logs, messages, reprs or tracebacks.

The rest of the console imports it, its result types and its errors from
`deployments_ui.patchworks`.
"""

from __future__ import annotations

import contextvars
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from deployments_ui.patchworks import budget
from deployments_ui.patchworks.errors import (
    GONE_DEPLOYMENT,
    GONE_FLOW,
    GONE_FLOW_VERSION,
    GONE_LIST,
    UNKNOWN_OUTCOME,
    ConnectionFailed,
    NotFound,
    PatchworksError,
    RateLimited,
    Timeout,
    Unauthorized,
    clean,
    error_for_status,
    malformed,
    parse_retry_after,
)
from deployments_ui.patchworks.types import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    Page,
    ShapeError,
    VirtualEnvironment,
    parse_deployment,
    parse_flow,
    parse_flow_version,
    parse_one,
    parse_package,
    parse_page,
    parse_virtual_environment,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_INCLUDES = ("flowVersion", "virtualEnvironment", "package", "enabledBy")
INCLUDES = frozenset({*DEFAULT_INCLUDES, "user"})
FILTERS = frozenset(
    {"package_id", "virtual_environment_id", "global", "flowVersion.flow", "name", "LIKE"}
)
SORTS = frozenset({"created_at", "enabled_at", "flow_name", "flow_version_iteration"})
UPDATE_FIELDS = frozenset({"virtual_environment_id", "priority", "enabled_at", "deploy_disabled"})
USER_AGENT = "deployments-console/0.1"
RETRY_STATUSES = (429, 502, 503, 504)
_PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The budget name of the key whose request is being sent (for GET retries inside urllib3).
_sending_key: contextvars.ContextVar[str] = contextvars.ContextVar("sending_key", default="")


# The key -------------------------------------------------------------------------------------


class _Hidden(str):
    """The API key as the header value: a real string for the wire, hidden from repr and str.

    Django's error pages, logging and pprint all go through repr/str, so neither a header dict
    nor any frame local holding this value can show the key.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"

    __str__ = __repr__


# Sessions ------------------------------------------------------------------------------------


class _GetRetry(Retry):
    """Retry for GETs: caps Retry-After and does not retry read timeouts.

    A GET that timed out has already cost a full read timeout; retrying it would multiply the
    wait beyond what a page view can afford. Dropped connections are still retried.
    """

    def __init__(self, *args: Any, retry_after_cap: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap

    def new(self, **kwargs: Any) -> _GetRetry:
        retry = super().new(**kwargs)
        retry.retry_after_cap = self.retry_after_cap
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # unreadable: fall back to the normal backoff
        return min(seconds, self.retry_after_cap)

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        if response is not None and response.status == 429:
            _pause_for(response.headers.get("Retry-After"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None) -> None:
        super().sleep(response)
        # A retry is a request like any other: it waits for the budget too.
        budget.take(_sending_key.get())


@dataclass(frozen=True, slots=True)
class _Sessions:
    config: tuple[int, float]
    reads: requests.Session
    writes: requests.Session


_sessions: _Sessions | None = None
_sessions_lock = threading.Lock()


class _RecentConnectionsOnly:
    """A pool that reuses a kept-alive connection only if it was used within the last second.

    Servers close idle keep-alive connections (gunicorn after 2 s, load balancers later). A
    write sent on one just as the server closes it fails after sending, so its outcome would be
    unknown although Patchworks never saw it; writes are never retried, so they must not start
    on a connection that may be closing. A fresh connection costs one handshake.
    """

    max_idle_seconds = 1.0

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        last_used = getattr(conn, "console_last_used", None)
        if last_used is not None and time.monotonic() - last_used > self.max_idle_seconds:
            conn.close()  # urllib3 opens it again on the next request
        return conn

    def _put_conn(self, conn) -> None:
        if conn is not None:
            conn.console_last_used = time.monotonic()
        super()._put_conn(conn)


class _RecentHTTPPool(_RecentConnectionsOnly, HTTPConnectionPool):
    pass


class _RecentHTTPSPool(_RecentConnectionsOnly, HTTPSConnectionPool):
    pass


def _new_session(retry: Retry, *, recent_connections_only: bool = False) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=20, max_retries=retry)
    if recent_connections_only:
        adapter.poolmanager.pool_classes_by_scheme = {
            "http": _RecentHTTPPool,
            "https": _RecentHTTPSPool,
        }
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Shared by every user of the process: never keep cookies from one call for the next.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def _build_sessions(config: tuple[int, float]) -> _Sessions:
    retries, cap = config
    get_retry = _GetRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=False,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=0.2,
        backoff_max=max(cap, 0.2),
        respect_retry_after_header=True,
        raise_on_status=False,
        retry_after_cap=cap,
    )
    no_retry = Retry(total=0, read=False, redirect=False, raise_on_status=False)
    writes = _new_session(no_retry, recent_connections_only=True)
    return _Sessions(config, _new_session(get_retry), writes)


def _get_sessions() -> _Sessions:
    """The process's pooled sessions, rebuilt only if the retry settings changed."""
    global _sessions
    config = (int(settings.PATCHWORKS_GET_RETRIES), float(settings.PATCHWORKS_RETRY_AFTER_CAP))
    current = _sessions
    if current is not None and current.config == config:
        return current
    with _sessions_lock:
        if _sessions is None or _sessions.config != config:
            _sessions = _build_sessions(config)
        return _sessions


def reset_session() -> None:
    """Forget the pooled sessions (tests); the next call builds new ones from settings."""
    global _sessions
    with _sessions_lock:
        old, _sessions = _sessions, None
    if old is not None:
        old.reads.close()
        old.writes.close()


def _cause(exc: BaseException) -> BaseException | None:
    """The urllib3 error under a requests exception (unwrapping MaxRetryError)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    if isinstance(inner, MaxRetryError):
        return inner.reason
    return inner


def _transport_error(exc: Exception, *, write: bool) -> PatchworksError:
    if isinstance(exc, requests.exceptions.InvalidHeader | UnicodeError):
        # The key cannot even be put in a header (a line break, a non-Latin-1 letter): the
        # request was never sent. (A UnicodeError carries the key in `.object`: never re-raise.)
        return Unauthorized(
            "Your Patchworks API key is not in a form Patchworks accepts — update it on the "
            "My API key page."
        )
    cause = _cause(exc)
    if isinstance(exc, requests.ConnectTimeout):
        nothing = " Nothing was changed." if write else ""
        return Timeout(f"Patchworks could not be reached in time.{nothing} Try again in a minute.")
    if isinstance(exc, requests.ReadTimeout) or isinstance(cause, ReadTimeoutError):
        if write:
            return Timeout(
                f"Patchworks did not answer in time, {UNKNOWN_OUTCOME}", outcome_unknown=True
            )
        return Timeout("Patchworks did not answer in time. Try again in a minute.")
    not_sent = isinstance(cause, NewConnectionError) or isinstance(
        exc, requests.exceptions.SSLError | requests.exceptions.ProxyError
    )
    if write and not not_sent:
        return ConnectionFailed(
            f"Patchworks closed the connection before answering, {UNKNOWN_OUTCOME}",
            outcome_unknown=True,
        )
    nothing = " Nothing was changed." if write else ""
    return ConnectionFailed(f"Patchworks could not be reached.{nothing} Try again in a minute.")


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
        self._key = _Hidden(api_key)

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
            if sort.removeprefix("-") not in SORTS:
                raise ValueError(f"unknown sort: {sort!r}")
            params["sort"] = sort
        params.update(_page_params(page, per_page))
        body = self._get("/flow-version-deployments", params, GONE_LIST)
        return self._page(body, parse_deployment, page, per_page)

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
        body = self._get(path, params, GONE_FLOW_VERSION)
        return self._page(body, parse_deployment, page, per_page)

    def get_deployment(
        self, flow_version_id: str, deployment_id: str, *, include: Sequence[str] = DEFAULT_INCLUDES
    ) -> Deployment:
        """One deployment, with the relations asked for."""
        body = self._get(
            self._deployment_path(flow_version_id, deployment_id),
            _include_param(include),
            GONE_DEPLOYMENT,
        )
        return self._one(body, parse_deployment, write=False)

    def list_virtual_environments(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[VirtualEnvironment]:
        """Virtual environments that have at least one deployment (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        body = self._get("/flow-version-deployments/virtual-environments", params, GONE_LIST)
        return self._page(body, parse_virtual_environment, page, per_page)

    def list_packages(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[Package]:
        """Packages deployed to at least one virtual environment (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        body = self._get("/flow-version-deployments/packages", params, GONE_LIST)
        return self._page(body, parse_package, page, per_page)

    def list_flows(
        self, *, name: str | None = None, page: int = 1, per_page: int = 100
    ) -> Page[Flow]:
        """Process flows (for pickers)."""
        params = {**_name_filter(name), **_page_params(page, per_page)}
        body = self._get("/flows", params, GONE_LIST)
        return self._page(body, parse_flow, page, per_page)

    def list_flow_versions(
        self, flow_id: str, *, page: int = 1, per_page: int = 100
    ) -> Page[FlowVersion]:
        """One flow's versions (for pickers)."""
        path = f"/flows/{_path_id(flow_id, GONE_FLOW)}/versions"
        body = self._get(path, _page_params(page, per_page), GONE_FLOW)
        return self._page(body, parse_flow_version, page, per_page)

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
        return self._one(body, parse_deployment, write=True)

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
        return self._one(body, parse_deployment, write=True)

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
        return self._one(body, parse_deployment, write=True)

    def disable_deployment(self, flow_version_id: str, deployment_id: str) -> Deployment:
        """Disable a deployment so that its flow stops running."""
        path = self._deployment_path(flow_version_id, deployment_id) + "/disable"
        body = self._write("POST", path, None, GONE_DEPLOYMENT)
        return self._one(body, parse_deployment, write=True)

    # Plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _deployment_path(flow_version_id: str, deployment_id: str) -> str:
        version = _path_id(flow_version_id, GONE_DEPLOYMENT)
        return f"/flow-versions/{version}/deployments/{_path_id(deployment_id, GONE_DEPLOYMENT)}"

    def _get(self, path: str, params: dict[str, str], not_found: str) -> Any:
        return self._call("GET", path, params=params, payload=None, not_found=not_found)

    def _write(self, method: str, path: str, payload: dict | None, not_found: str) -> Any:
        return self._call(method, path, params=None, payload=payload, not_found=not_found)

    @sensitive_variables("headers")
    def _call(
        self, method: str, path: str, *, params: dict | None, payload: dict | None, not_found: str
    ) -> Any:
        """Send one request and return its decoded JSON body (None when empty)."""
        write = method != "GET"
        sessions = _get_sessions()
        session = sessions.writes if write else sessions.reads
        headers = {
            "Authorization": self._key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        key_name = budget.key_name(self._key)
        try:
            budget.take(key_name)
        except budget.BudgetExhausted as exhausted:
            seconds = math.ceil(exhausted.retry_after)
            raise RateLimited(
                f"Patchworks is busy, try again in {seconds} seconds.",
                retry_after=seconds,
                status=None,
            ) from None
        token = _sending_key.set(key_name)
        started = time.perf_counter()
        try:
            response = session.request(
                method,
                f"{settings.PATCHWORKS_BASE_URL}/api/v1{path}",
                params=params,
                json=payload,
                headers=headers,
                timeout=(settings.PATCHWORKS_CONNECT_TIMEOUT, settings.PATCHWORKS_READ_TIMEOUT),
                allow_redirects=False,
            )
        except (requests.RequestException, UnicodeError) as exc:
            error = _transport_error(exc, write=write)
            logger.warning(
                "patchworks %s %s failed after %.0f ms: %s",
                method,
                path,
                _ms(started),
                type(exc).__name__,
            )
            # `from None` keeps requests' frames, whose locals hold the headers, out of error
            # reports; the log line above names what failed.
            raise error from None
        finally:
            _sending_key.reset(token)
        logger.info(
            "patchworks %s %s %s in %.0f ms", method, path, response.status_code, _ms(started)
        )
        if response.status_code == 429:
            _pause_for(response.headers.get("Retry-After"), key_name)
        if not 200 <= response.status_code < 300:
            raise error_for_status(
                response.status_code,
                _json_object(response),
                retry_after=response.headers.get("Retry-After"),
                write=write,
                not_found=not_found,
                secret=self._key,
            )
        return _decode(response, write=write)

    def _one(self, body: Any, parse: Callable[[Any], T], *, write: bool) -> T:
        try:
            return parse_one(body, parse)
        except ShapeError:
            raise malformed(write=write) from None

    def _page(self, body: Any, parse: Callable[[Any], T], page: int, per_page: int) -> Page[T]:
        try:
            return parse_page(body, parse, page=max(1, page), per_page=min(max(1, per_page), 100))
        except ShapeError:
            raise malformed(write=False) from None


def _pause_for(retry_after: str | None, key_name: str = "") -> None:
    """Patchworks said 429: pause the console's requests with this key as long as it asked."""
    seconds = parse_retry_after(retry_after)
    budget.pause(key_name or _sending_key.get(), float(seconds if seconds is not None else 1))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _decode(response: requests.Response, *, write: bool) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise malformed(write=write, status=response.status_code) from None


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
