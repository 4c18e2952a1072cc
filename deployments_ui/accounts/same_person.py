"""One person, one identity: the accounts that are one person, for four-eyes approval.

A person may have a local account (a break-glass `operator`) and a single sign-on identity
(`operator@example.com`), or two identities after a rename at the provider (`alice@` then
`alice.smith@`). Four-eyes approval counts people, not accounts: accounts with the same email
address are one person, and so are accounts an Admin linked (`PersonLink`, audited). An Admin
also links a renamed identity to the account it used to sign in as (`link_identity`), so the
person keeps one account.

No impersonation: an account whose password an Admin set (`AdminSetPassword`, audited where it
is set) may not approve for a day (`APPROVAL_PAUSE`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deployments_ui import audit
from deployments_ui.accounts.models import AdminSetPassword, PersonLink, SsoIdentity
from deployments_ui.audit.models import AuditEvent

APPROVAL_PAUSE = timedelta(days=1)
MAX_ACCOUNTS = 50


class LinkRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _email(user: Any) -> str:
    return (getattr(user, "email", "") or "").strip().lower()


def accounts_of(user: Any) -> set[int]:
    """The ids of every account of the person `user` is: same email address, or linked."""
    if user is None or not getattr(user, "pk", None):
        return set()
    users = get_user_model().objects
    found, todo = {user.pk}, [user]
    while todo and len(found) < MAX_ACCOUNTS:
        account = todo.pop()
        email = _email(account)
        links = PersonLink.objects.filter(Q(account=account) | Q(same_as=account))
        ids = {pk for pair in links.values_list("account_id", "same_as_id") for pk in pair}
        if email:
            ids |= set(users.filter(email__iexact=email).values_list("pk", flat=True))
        new = ids - found
        found |= new
        todo.extend(users.filter(pk__in=new))
    return found


def same_person(first: Any, second: Any) -> bool:
    """Whether two accounts are one person (one account is one person, too)."""
    if first is None or second is None:
        return False
    return first.pk == second.pk or second.pk in accounts_of(first)


def approval_pause(user: Any) -> str:
    """Why `user` may not approve just now ('' when they may): an Admin set their password."""
    since = timezone.now() - APPROVAL_PAUSE
    if AdminSetPassword.objects.filter(user_id=user.pk, set_at__gte=since).exists():
        return (
            "An Admin set this account's password less than a day ago, so it cannot approve "
            "changes until a day has passed."
        )
    return ""


def may_sign_in_locally(username: str, *, sso_on: bool) -> bool:
    """Where single sign-on is on, CONSOLE_LOCAL_LOGIN_ACCOUNTS (when set) names the only
    accounts that may sign in with a password: the break-glass ones."""
    allowed = {name.strip().lower() for name in settings.LOCAL_LOGIN_ACCOUNTS if name.strip()}
    if not sso_on or not allowed:
        return True
    return username.strip().lower() in allowed


def _record(actor: audit.Actor, account: Any, identity: str, message: str) -> None:
    audit.record_account(
        actor=actor,
        action=AuditEvent.Action.SSO_LINKED,
        account=account.get_username(),
        after={"identity": identity},
        message=message,
    )


@transaction.atomic
def link_accounts(*, actor: audit.Actor, account: Any, other: Any) -> None:
    """Record that two accounts are one person (audited)."""
    if same_person(account, other):
        raise LinkRefused(f"{other.get_username()} is already the same person.")
    PersonLink.objects.create(account=account, same_as=other)
    _record(
        actor,
        account,
        other.get_username(),
        f"Linked as one person with the account {other.get_username()}: one person for approvals.",
    )


@transaction.atomic
def link_identity(*, actor: audit.Actor, account: Any, identity: str) -> None:
    """Sign-ins with `identity` (normalised) go to `account` from now on: an identity renamed at
    the provider keeps its person. An account single sign-on already made for the new name
    stays, linked as the same person (audited)."""
    taken = SsoIdentity.objects.select_related("user").filter(identity=identity).first()
    if taken is not None and taken.user_id == account.pk:
        raise LinkRefused(f"{identity} already signs in as {account.get_username()}.")
    message = f"Single sign-on identity {identity} now signs in as this account."
    if taken is not None:
        other = taken.user
        taken.delete()
        if not same_person(account, other):
            PersonLink.objects.create(account=account, same_as=other)
        message += f" The account it signed in as before ({other.get_username()}) is linked."
    SsoIdentity.objects.update_or_create(user=account, defaults={"identity": identity})
    _record(actor, account, identity, message)


def record_admin_password(*, actor: audit.Actor, account: Any, admin: Any) -> None:
    """An Admin set `account`'s password: audited, and the account may not approve for a day."""
    AdminSetPassword.objects.create(user=account, set_by=admin)
    audit.record_account(
        actor=actor,
        action=AuditEvent.Action.PASSWORD_SET,
        account=account.get_username(),
        message="Password set by an Admin: this account cannot approve changes for a day.",
    )
