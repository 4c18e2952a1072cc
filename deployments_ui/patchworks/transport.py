"""How the client reaches Patchworks: pooled sessions, retries and the key on the wire.

The only module of the console that imports requests and urllib3. GETs are retried a little
(connection failures, 429 and 502-504, honouring Retry-After up to a cap); writes are never
retried, and start only on a connection used within the last second. Every failure to get an
answer becomes one `PatchworksError` subclass; a non-2xx answer becomes one through
`errors.error_for_status`. The API key travels as `_Hidden`, so it never shows in a log,
a repr or a traceback.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool, HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from deployments_ui.core.kept import Kept
from deployments_ui.core.words import later
from deployments_ui.patchworks import budget, shared
from deployments_ui.patchworks.errors import (
    UNKNOWN_OUTCOME,
    ConnectionFailed,
    PatchworksError,
    RateLimited,
    Timeout,
    Unauthorized,
    error_for_status,
    malformed,
    parse_retry_after,
)

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

logger = logging.getLogger(__name__)

USER_AGENT = "deployments-console/0.1"
RETRY_STATUSES = (429, 502, 503, 504)
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
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> _GetRetry:
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        if response is not None and response.status == 429:
            _pause_for(response.headers.get("Retry-After"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
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


class _RecentConnectionsOnly(HTTPConnectionPool):
    """A pool that reuses a kept-alive connection only if it was used within the last second.

    Servers close idle keep-alive connections (gunicorn after 2 s, load balancers later). A
    write sent on one just as the server closes it fails after sending, so its outcome would be
    unknown although Patchworks never saw it; writes are never retried, so they must not start
    on a connection that may be closing. A fresh connection costs one handshake.
    """

    max_idle_seconds = 1.0

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        conn = super()._get_conn(timeout)
        last_used = getattr(conn, "console_last_used", None)
        if last_used is not None and time.monotonic() - last_used > self.max_idle_seconds:
            conn.close()  # urllib3 opens it again on the next request
        return conn

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        if conn is not None:
            setattr(conn, "console_last_used", time.monotonic())  # noqa: B010 (not on the type)
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
        return Timeout(later(partial(_unreached_words, write, in_time=True)))
    if isinstance(exc, requests.ReadTimeout) or isinstance(cause, ReadTimeoutError):
        if write:
            late = later(
                lambda: (
                    gettext("Patchworks did not answer in time, %(then)s")
                    % {"then": gettext(UNKNOWN_OUTCOME)}
                )
            )
            return Timeout(late, outcome_unknown=True)
        return Timeout(
            later(lambda: gettext("Patchworks did not answer in time. Try again in a minute."))
        )
    not_sent = isinstance(cause, NewConnectionError) or isinstance(
        exc, requests.exceptions.SSLError | requests.exceptions.ProxyError
    )
    if write and not not_sent:
        return ConnectionFailed(
            later(
                lambda: (
                    gettext("Patchworks closed the connection before answering, %(then)s")
                    % {"then": gettext(UNKNOWN_OUTCOME)}
                )
            ),
            outcome_unknown=True,
        )
    return ConnectionFailed(later(partial(_unreached_words, write, in_time=False)))


def _unreached_words(write: bool, *, in_time: bool) -> str:
    words = (
        gettext("Patchworks could not be reached in time.")
        if in_time
        else gettext("Patchworks could not be reached.")
    )
    if write:
        words += " " + gettext("Nothing was changed.")
    return words + " " + gettext("Try again in a minute.")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _decode(response: requests.Response, *, write: bool) -> Any:
    if not response.content.strip():
        return None
    kept = None if write else _decoded.get(response.url)
    if kept is not None and kept[0] == response.content:
        return kept[1]
    try:
        body = response.json()
    except ValueError:
        if write:
            # A 2xx means the write was done: the caller reads the state back instead.
            return None
        raise malformed(write=write, status=response.status_code) from None
    if not write:
        _decoded.put(response.url, (response.content, body))
    return body


# The same bytes again (a list reloaded) are not decoded again: what JSON decodes to depends on
# nothing but the bytes. Nothing downstream changes a decoded body.
_decoded: Kept[str, tuple[bytes, Any]] = Kept(16)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# Sending ---------------------------------------------------------------------------------------


@sensitive_variables("key", "headers")
def send(
    key: _Hidden,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None,
    payload: dict[str, Any] | None,
    not_found: str,
) -> Any:
    """Send one request to `/api/v1{path}` and return its decoded JSON body (None when empty)."""
    write = method != "GET"
    sessions = _get_sessions()
    session = sessions.writes if write else sessions.reads
    headers = {
        "Authorization": key,
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if payload is not None:
        headers["Content-Type"] = "application/json"
    key_name = budget.key_name(key)
    with budget.for_change() if write else nullcontext():
        response = _request(session, method, path, key_name, params, payload, headers, write)
    if response.status_code == 429:
        _pause_for(response.headers.get("Retry-After"), key_name)
    if response.status_code == 401:
        shared.distrust(key_name)
    if not 200 <= response.status_code < 300:
        raise error_for_status(
            response.status_code,
            _json_object(response),
            retry_after=response.headers.get("Retry-After"),
            write=write,
            not_found=not_found,
            secret=key,
        )
    shared.trust(key_name)
    return _decode(response, write=write)


def _busy(exhausted: budget.BudgetExhausted) -> RateLimited:
    """The console's own budget is spent: the same plain words as Patchworks' 429."""
    seconds = math.ceil(exhausted.retry_after)
    return RateLimited(
        f"Patchworks is busy, try again in {seconds} seconds.", retry_after=seconds, status=None
    )


@sensitive_variables("headers")
def _request(
    session: requests.Session,
    method: str,
    path: str,
    key_name: str,
    params: dict[str, Any] | None,
    payload: dict[str, Any] | None,
    headers: dict[str, str],
    write: bool,
) -> requests.Response:
    """Wait for the budget, then send; every failure to get an answer is a PatchworksError."""
    try:
        budget.take(key_name)
    except budget.BudgetExhausted as exhausted:
        raise _busy(exhausted) from None
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
    except budget.BudgetExhausted as exhausted:
        # A GET's retry waits for the budget too (`_GetRetry.sleep`), and may find it spent.
        logger.warning("patchworks %s %s: budget spent before a retry", method, path)
        raise _busy(exhausted) from None
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
    logger.info("patchworks %s %s %s in %.0f ms", method, path, response.status_code, _ms(started))
    return response


def mask(api_key: str) -> _Hidden:
    """The key as the client keeps it: a real string on the wire, '********' in any repr."""
    return _Hidden(api_key)


def _pause_for(retry_after: str | None, key_name: str = "") -> None:
    """Patchworks said 429: pause the console's requests with this key as long as it asked."""
    seconds = parse_retry_after(retry_after)
    budget.pause(key_name or _sending_key.get(), float(seconds if seconds is not None else 1))
