"""Failed sign-ins: a per-account limit across addresses, and their record in the audit trail.

django-axes locks a username from one address after `CONSOLE_LOGIN_FAILURE_LIMIT` failures.
Someone trying one account from many addresses would never reach that, so the console also
counts failures per account, whatever the address, and pauses the account's password sign-in
after `CONSOLE_LOGIN_ACCOUNT_FAILURE_LIMIT` of them for the same cool-off. The count lives in
the cache (shared by every process when `REDIS_URL` is set).

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
from django.core.cache import cache
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest

from deployments_ui import audit
from deployments_ui.audit.models import AuditEvent

logger = logging.getLogger(__name__)


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
    """Whether password sign-in as `username` from this request is paused (either kind)."""
    locked_here = AxesProxyHandler.is_locked(request, {"username": username})
    return locked_here or account_locked(username)


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
    """An address's lockout ended: removed by an administrator, a command, or its cool-off."""
    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT:
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
    clear_account(instance.username or "")
    _record(
        AuditEvent.Action.UNLOCKED,
        instance.username or "",
        actor,
        message,
        AuditEvent.Outcome.SUCCEEDED,
    )
