"""The errors the Patchworks client raises, and how an HTTP answer becomes one of them.

Every error carries `message`, written for the non-technical person at the screen, `status`
(the HTTP status, or None when there was no answer) and `outcome_unknown`, which is True only
when a write may or may not have been done. Messages never contain the API key, a URL or a raw
body; text taken from Patchworks is cleaned and cut to MAX_MESSAGE characters.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.utils.translation import gettext, gettext_noop, ngettext

from deployments_ui.core.errors import ConsoleError
from deployments_ui.core.words import later

MAX_MESSAGE = 300
UNKNOWN_OUTCOME = gettext_noop(
    "so we don't know whether the change was made. Open the deployment to check."
)
GONE_DEPLOYMENT = gettext_noop("This deployment no longer exists in Patchworks.")
GONE_FLOW_VERSION = gettext_noop("This flow version no longer exists in Patchworks.")
GONE_FLOW = gettext_noop("This flow no longer exists in Patchworks.")
GONE_LIST = gettext_noop("Patchworks could not find this list.")
GONE_RUNS = gettext_noop("Patchworks does not offer flow runs to this API key.")
GONE_RUN = gettext_noop("This run's logs are no longer kept (Patchworks keeps them for 7 days).")
ALLOWANCE = gettext_noop(
    "Patchworks refused: your plan's allowance of running flows may be used up."
)
# The status a console page answers with for Patchworks' status; anything else is a bad gateway
# (502), or a gateway timeout (504) when a write's outcome is unknown.
PAGE_STATUS = {401: 403, 402: 403, 403: 403, 404: 404, 422: 422, 429: 429}


class PatchworksError(ConsoleError):
    """Patchworks could not do what was asked; `message` says why in plain words.

    `status` is Patchworks' own HTTP status (None without an answer); `http_status` is the
    console page's.
    """

    written = False  # True only when Patchworks did accept a write (see WrittenUnread)

    def __init__(self, message: str, *, status: int | None = None, outcome_unknown: bool = False):
        fallback = 504 if outcome_unknown else 502
        super().__init__(message, http_status=PAGE_STATUS.get(status or 0, fallback))
        self.status = status
        self.outcome_unknown = outcome_unknown


class BadRequest(PatchworksError):
    """400 and any other 4xx without a class of its own."""


class Unauthorized(PatchworksError):
    """401: the key is unknown or revoked."""


class Forbidden(PatchworksError):
    """403: the key may not do this."""


class NotFound(PatchworksError):
    """404, or an id that cannot be one (then nothing was sent)."""


class Conflict(PatchworksError):
    """409."""


class ValidationFailed(PatchworksError):
    """422: Patchworks did not accept the values; `field_errors` maps field to messages."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]], **kwargs: Any):
        super().__init__(message, **kwargs)
        self.field_errors = field_errors


class RateLimited(PatchworksError):
    """429: too many requests; `retry_after` is Patchworks' wait in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: int | None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(PatchworksError):
    """5xx."""


class Timeout(PatchworksError):
    """No connection or no answer within the configured timeouts."""


class ConnectionFailed(PatchworksError):
    """Refused, unresolvable, reset: Patchworks could not be reached, or hung up."""


class MalformedResponse(PatchworksError):
    """A success status with a body we cannot read, or an unexpected status such as a 3xx."""


class AllowanceUsedUp(PatchworksError):
    """A write refused, by the look of it, because the company's plan allows no more enabled
    flows. Patchworks does not publish this refusal: see ALLOWANCE_WORDS. `limit` is how many
    the plan allows when its words said ("Your plan allows 5 active flows"), else None."""

    limit: int | None = None


class WrittenUnread(PatchworksError):
    """Patchworks accepted a write (2xx) without sending the deployment back, and reading it
    afterwards failed: the change was made, its resulting state is not known. `written` is True.
    """

    written = True


def clean(text: Any, secret: str = "") -> str:
    """Upstream text made safe to show: no key, one line, at most MAX_MESSAGE characters."""
    if not isinstance(text, str):
        return ""
    if secret:
        text = text.replace(secret, "********")
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def parse_retry_after(value: str | None) -> int | None:
    """Retry-After in whole seconds, from seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return int(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


def malformed(*, write: bool, status: int | None = None) -> MalformedResponse:
    """A success status whose body could not be read."""
    if write:
        return MalformedResponse(
            later(
                lambda: (
                    gettext("Patchworks sent an answer the console could not read, %(then)s")
                    % {"then": gettext(UNKNOWN_OUTCOME)}
                )
            ),
            status=status,
            outcome_unknown=True,
        )
    unread = later(lambda: gettext("Patchworks sent an answer the console could not read."))
    return MalformedResponse(unread, status=status)


def error_for_status(
    status: int,
    body: Mapping[str, Any],
    *,
    retry_after: str | None,
    write: bool,
    not_found: str,
    secret: str,
) -> PatchworksError:
    """The error for a non-2xx answer; `body` is its JSON object, or {} if it had none."""
    upstream = clean(body.get("message"), secret) or _jsonapi_message(body.get("errors"), secret)
    if write and _looks_like_allowance(status, body, upstream, secret):
        return _allowance(status, upstream)
    if status == 401:
        return Unauthorized(
            later(
                lambda: gettext(
                    "Patchworks rejected your API key — update it on the My API key page."
                )
            ),
            status=status,
        )
    if status == 403:
        if write:
            return Forbidden(
                later(
                    lambda: gettext(
                        "Your Patchworks API key may not change deployments (Patchworks treats it "
                        "as read-only). Nothing was changed. Ask whoever manages your Patchworks "
                        "account for a key that may make changes, and save it on the My API key "
                        "page."
                    )
                ),
                status=status,
            )
        hidden = later(lambda: gettext("Your Patchworks API key is not allowed to see this."))
        return Forbidden(hidden, status=status)
    if status == 404:
        return NotFound(later(lambda: gettext(not_found)), status=status)
    if status == 409:
        return Conflict(later(partial(_conflict_words, upstream)), status=status)
    if status == 422:
        errors = _field_errors(body.get("errors"), secret)
        message = (
            clean(body.get("message"), secret)
            or _jsonapi_message(body.get("errors"), secret, field_errors_too=not errors)
            or later(lambda: gettext("Patchworks did not accept these values."))
        )
        return ValidationFailed(message, field_errors=errors, status=status)
    if status == 429:
        return _rate_limited(parse_retry_after(retry_after))
    if 500 <= status < 600:
        return _server_error(status, write=write)
    if 400 <= status < 500:
        return BadRequest(later(partial(_refused_words, status, upstream)), status=status)
    return MalformedResponse(
        later(
            lambda: (
                gettext(
                    "Patchworks answered in an unexpected way (status %(status)s). The Patchworks "
                    "address in the console's settings may be wrong."
                )
                % {"status": status}
            )
        ),
        status=status,
        outcome_unknown=write,
    )


# JSON:API points at relationships by their names; the console's fields are the request's ids.
POINTER_FIELDS = {
    "virtualEnvironment": "virtual_environment_id",
    "virtual_environment": "virtual_environment_id",
    "virtualEnvironmentId": "virtual_environment_id",
    "flowVersion": "flow_version_id",
    "flow_version": "flow_version_id",
    "flowVersionId": "flow_version_id",
    "deployDisabled": "deploy_disabled",
    "enabledAt": "enabled_at",
}


def _jsonapi_message(raw: Any, secret: str, *, field_errors_too: bool = True) -> str:
    """The first error's words from a JSON:API `errors` list, for an answer with no message."""
    if not isinstance(raw, list):
        return ""
    for error in raw:
        if isinstance(error, Mapping) and (field_errors_too or not _pointer_field(error)):
            text = clean(error.get("detail"), secret) or clean(error.get("title"), secret)
            if text:
                return text
    return ""


def _pointer_field(error: Mapping[str, Any]) -> str:
    """The field a JSON:API error is about: its source pointer's last part, or its parameter."""
    source = error.get("source")
    if not isinstance(source, Mapping):
        return ""
    pointer = source.get("pointer")
    if isinstance(pointer, str) and pointer.strip("/"):
        parts = [part for part in pointer.split("/") if part]
        if parts in (["data"], ["data", "attributes"], ["data", "relationships"]):
            return ""
        name = parts[-1] if parts[-1] != "data" else parts[-2]
        return POINTER_FIELDS.get(name, name)
    parameter = source.get("parameter")
    return POINTER_FIELDS.get(parameter, parameter) if isinstance(parameter, str) else ""


def _field_errors(raw: Any, secret: str) -> dict[str, list[str]]:
    """Field messages from Laravel's {"field": ["..."]} or JSON:API's [{"source": ...}]."""
    if isinstance(raw, list):
        errors: dict[str, list[str]] = {}
        for error in raw:
            if not isinstance(error, Mapping):
                continue
            field = _pointer_field(error)
            text = clean(error.get("detail"), secret) or clean(error.get("title"), secret)
            if field and text:
                errors.setdefault(field, []).append(text)
        return errors
    if not isinstance(raw, Mapping):
        return {}
    errors = {}
    for field, messages in raw.items():
        texts = [clean(m, secret) for m in (messages if isinstance(messages, list) else [messages])]
        errors[str(field)] = [text for text in texts if text]
    return errors


# Enabling counts against the company's allowance of connectors by tier, and Patchworks may
# refuse an enable for it; the refusal's body is not published. A 402, or a 403/409/422 whose
# words speak of the plan, is read as that refusal (a 429 "limit" is the rate limit).
ALLOWANCE_STATUSES = frozenset({403, 409, 422})
ALLOWANCE_WORDS = re.compile(
    r"\b(plan|allowance|tier|licen[cs]e[sd]?|quota|upgrade|subscription|active flows?"
    r"|connector limit|limit of)\b",
    re.IGNORECASE,
)


def _looks_like_allowance(status: int, body: Mapping[str, Any], upstream: str, secret: str) -> bool:
    if status == 402:
        return True
    if status not in ALLOWANCE_STATUSES:
        return False
    texts = [
        upstream,
        *(t for ts in _field_errors(body.get("errors"), secret).values() for t in ts),
    ]
    return any(ALLOWANCE_WORDS.search(text) for text in texts)


# "allows 5 active flows", "limit of 5 flows", "5 active flows": the plan's number, if said.
ALLOWANCE_NUMBER = re.compile(
    r"\b(?:allows?|limit of|up to)\s+(\d{1,6})\b"
    r"|\b(\d{1,6})\s+(?:active|running|enabled)\s+flows?\b",
    re.IGNORECASE,
)


def _allowance(status: int, upstream: str) -> AllowanceUsedUp:
    refusal = AllowanceUsedUp(later(partial(_allowance_words, upstream)), status=status)
    number = ALLOWANCE_NUMBER.search(upstream)
    if number:
        refusal.limit = int(number.group(1) or number.group(2))
    return refusal


def _rate_limited(wait: int | None) -> RateLimited:
    return RateLimited(later(partial(_busy_words, wait)), retry_after=wait, status=429)


def _allowance_words(upstream: str) -> str:
    words = (
        gettext(ALLOWANCE)
        + " "
        + gettext(
            "Nothing was changed. Disable a flow that is no longer needed, or ask whoever manages "
            "your Patchworks account about the plan."
        )
    )
    if upstream:
        words += " " + gettext("Patchworks said: “%(words)s”") % {"words": upstream}
    return words


def _busy_words(wait: int | None) -> str:
    if wait is None:
        return gettext("Patchworks is busy — try again in a minute.")
    return ngettext(
        "Patchworks is busy — try again in %(count)d second.",
        "Patchworks is busy — try again in %(count)d seconds.",
        wait,
    ) % {"count": wait}


def _conflict_words(upstream: str) -> str:
    text = upstream or gettext("it conflicts with the deployment's current state.")
    return gettext("Patchworks refused the change: %(text)s") % {"text": text}


def _refused_words(status: int, upstream: str) -> str:
    if upstream:
        words = {"status": status, "text": upstream}
        return gettext("Patchworks refused the request (error %(status)s): %(text)s") % words
    return gettext("Patchworks refused the request (error %(status)s).") % {"status": status}


def _server_error(status: int, *, write: bool) -> ServerError:
    # A gateway error on a write means the request may have reached Patchworks and been done.
    if write and status in {502, 504}:
        return ServerError(
            later(
                lambda: (
                    gettext("Patchworks did not answer properly (error %(status)s), %(then)s")
                    % {"status": status, "then": gettext(UNKNOWN_OUTCOME)}
                )
            ),
            status=status,
            outcome_unknown=True,
        )
    return ServerError(
        later(
            lambda: (
                gettext(
                    "Patchworks is not answering properly right now (error %(status)s). "
                    "Try again in a minute."
                )
                % {"status": status}
            )
        ),
        status=status,
    )
