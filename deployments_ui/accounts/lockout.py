"""Failed sign-ins: a per-account limit across addresses, and their record in the audit trail.

django-axes locks a username from one address after `CONSOLE_LOGIN_FAILURE_LIMIT` failures.
Someone trying one account from many addresses would never reach that, so the console also
counts failures per account, whatever the address, and pauses the account's password sign-in
after `CONSOLE_LOGIN_ACCOUNT_FAILURE_LIMIT` of them for the same cool-off. The count lives in
the cache (shared by every process when `REDIS_URL` is set).

Anyone may type any username, so the per-account pause must not let a stranger keep its owner
out: a browser that signed in to the account before carries a signed cookie (`remember_browser`)
and is not held by the per-account pause, only by django-axes' limit on its own address. An
explicit reset (`manage.py axes_reset_username`, or deleting the attempt in the admin) lifts
both kinds of pause.

Failed sign-ins, lockouts (either kind) and unlocks become audit events. Attempts while locked
are refused before any password is checked (`ConsoleLoginView`), so they neither extend the
lockout nor fill the audit log.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core import signing
from django.core.cache import cache
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.audit.models import AuditEvent

logger = logging.getLogger(__name__)

KNOWN_BROWSER_COOKIE = "console_known_browser"
KNOWN_BROWSER_SALT = "deployments_ui.accounts.lockout.known-browser"
KNOWN_BROWSER_DAYS = 90
KNOWN_ACCOUNTS_KEPT = 5


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return f"sign-in-failures:{digest}"


def _cool_off_seconds() -> int:
    return max(1, int(timedelta(hours=settings.AXES_COOLOFF_TIME).total_seconds()))


def account_failures(username: str) -> int:
    return cache.get(_account_key(username), 0)


def account_locked(username: str) -> bool:
    return account_failures(username) >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT


def is_locked(request: HttpRequest, username: str) -> bool:
    """Whether password sign-in as `username` from this request is paused: its address's own
    failures (django-axes), or the account's failures from anywhere unless this browser signed
    in to the account before."""
    if AxesProxyHandler.is_locked(request, {"username": username}):
        return True
    return account_locked(username) and not known_browser(request, username)


def _known_accounts(request: HttpRequest) -> list[str]:
    try:
        known = request.get_signed_cookie(
            KNOWN_BROWSER_COOKIE,
            salt=KNOWN_BROWSER_SALT,
            max_age=timedelta(days=KNOWN_BROWSER_DAYS),
        )
    except (KeyError, signing.BadSignature):
        return []
    return [str(item) for item in known.split(",")] if isinstance(known, str) else []


def known_browser(request: HttpRequest, username: str) -> bool:
    """Whether this browser signed in as `username` within the last KNOWN_BROWSER_DAYS."""
    return _account_key(username) in _known_accounts(request)


def remember_browser(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """After a password sign-in: this browser is the account's own (a signed cookie that names
    no one: it holds digests of the accounts, a few at most)."""
    key = _account_key(username)
    known = [key, *(item for item in _known_accounts(request) if item != key)]
    response.set_signed_cookie(
        KNOWN_BROWSER_COOKIE,
        ",".join(known[:KNOWN_ACCOUNTS_KEPT]),
        salt=KNOWN_BROWSER_SALT,
        max_age=int(timedelta(days=KNOWN_BROWSER_DAYS).total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def clear_account(username: str) -> None:
    cache.delete(_account_key(username))


def _count_failure(username: str) -> int:
    key = _account_key(username)
    cache.add(key, 0, timeout=_cool_off_seconds())
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_cool_off_seconds())
        return 1


def _anonymous(request: HttpRequest | None) -> audit.Actor:
    if request is None:
        return audit.Actor.system("sign-in lockout")
    actor = audit.Actor.from_request(request)
    return (
        actor
        if actor.user
        else audit.Actor(
            ip_address=actor.ip_address, user_agent=actor.user_agent, request_id=actor.request_id
        )
    )


def _record(action: str, account: str, actor: audit.Actor, message: str, outcome: str) -> None:
    try:
        audit.record_account(
            actor=actor, action=action, account=account[:150], message=message, outcome=outcome
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record %s in the audit trail", action)


@receiver(user_login_failed, dispatch_uid="deployments_ui.lockout.failed")
def _failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    username = str(credentials.get("username") or "")
    if request is None or not username:
        return
    actor = _anonymous(request)
    _record(
        AuditEvent.Action.SIGN_IN_FAILED,
        username,
        actor,
        "Wrong username or password.",
        AuditEvent.Outcome.FAILED,
    )
    if _count_failure(username) == settings.LOGIN_ACCOUNT_FAILURE_LIMIT:
        logger.warning("Paused password sign-in of an account after failures from any address")
        _record(
            AuditEvent.Action.LOCKED_OUT,
            username,
            actor,
            f"{settings.LOGIN_ACCOUNT_FAILURE_LIMIT} failed sign-ins from any address: "
            "password sign-in to this account is paused.",
            AuditEvent.Outcome.SUCCEEDED,
        )


@receiver(user_locked_out, dispatch_uid="deployments_ui.lockout.locked")
def _locked(sender, request: HttpRequest, username: str, ip_address: str, **kwargs) -> None:
    _record(
        AuditEvent.Action.LOCKED_OUT,
        username or "",
        _anonymous(request),
        f"{settings.AXES_FAILURE_LIMIT} failed sign-ins from one address: sign-in to this "
        "account from that address is paused.",
        AuditEvent.Outcome.SUCCEEDED,
    )


@receiver(user_logged_in, dispatch_uid="deployments_ui.lockout.signed_in")
def _signed_in(sender, request: HttpRequest | None = None, user=None, **kwargs) -> None:
    if user is not None:
        clear_account(user.get_username())


@receiver(post_delete, sender=AccessAttempt, dispatch_uid="deployments_ui.lockout.unlocked")
def _unlocked(sender, instance: AccessAttempt, **kwargs) -> None:
    """An address's attempts were removed: by an administrator, a command, or its cool-off.

    Removed before its cool-off ended, it is a reset, which also lifts the per-account pause
    (an account paused by failures from many addresses has no address at django-axes' limit).
    """
    username = instance.username or ""
    expired = instance.attempt_time + timedelta(seconds=_cool_off_seconds()) <= timezone.now()
    account_paused = not expired and account_locked(username)
    if not expired:
        clear_account(username)
    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT and not account_paused:
        return
    from deployments_ui.core.http import current_request

    request = current_request.get()
    person = getattr(request, "user", None)
    if request is not None and person is not None and person.is_authenticated:
        actor = audit.Actor.from_request(request)
        message = "Unlocked by a console administrator."
    else:
        actor = audit.Actor.system("sign-in lockout")
        message = "The lockout ended (cool-off over, or removed with a management command)."
    _record(
        AuditEvent.Action.UNLOCKED,
        username,
        actor,
        message,
        AuditEvent.Outcome.SUCCEEDED,
    )
