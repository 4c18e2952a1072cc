"""Single sign-on through a trusted proxy (oauth2-proxy, Pomerium, Cloudflare Access, ...).

The proxy signs people in and passes their identity in a header (`CONSOLE_SSO_HEADER`). The
header is believed only when the request's direct peer (REMOTE_ADDR) is one of
`CONSOLE_SSO_TRUSTED_PROXIES`; from anywhere else it is ignored and the attempt logged.

Underscore spoofing: WSGI (and Django's `request.META`) maps both `X-Forwarded-Email` and
`X_Forwarded_Email` to `HTTP_X_FORWARDED_EMAIL`, so a proxy that only sets or strips the dashed
name could pass a client's underscore variant through. The app cannot see the raw header name
under WSGI, so the defence is layered:

1. The WSGI server drops header names containing underscores before they reach the app:
   gunicorn's `header_map = "drop"` (its default since 22.0; gunicorn.conf.py states it), and
   Django's own runserver (`WSGIRequestHandler.get_environ`) and ASGI handler do the same.
   tests/accounts/test_sso.py sends the underscore variant through both real servers.
2. If a server nevertheless merged the two (gunicorn's `header_map = "dangerous"`, plain
   wsgiref), the value arrives as "real,spoofed": identities containing a comma, whitespace or
   control characters are refused here and the SSO session is ended.
3. The proxy should strip underscore variants too: current oauth2-proxy releases do (the fix
   for CVE-2025-64484, GHSA-vjrc-mh2v-45x6), and nginx drops them unless
   `underscores_in_headers on`.

The groups header (`CONSOLE_SSO_GROUPS_HEADER`) is a comma list by nature, so step 2 cannot
protect it: it relies on steps 1 and 3. Roles from it are applied at each sign-in and again
whenever the header differs from the one the session started with, so a role taken away at the
identity provider is taken away in the console on the next request (each change is audited).
Role sync applies to everyone single sign-on signs in; it also removes superuser status, which
belongs to local break-glass accounts only.

Which account an identity signs in as: the identity is normalised (Unicode NFKC, lower case;
control, format and invisible characters refused; an email address unless
`CONSOLE_SSO_REQUIRE_EMAIL` is off) and looked up in `SsoIdentity`, which holds only accounts
that single sign-on created or that an administrator linked (audited). A local account that
merely has the same username is never taken over: the sign-in is refused with a plain page and
an audit event.

OpenID Connect (`accounts.oidc`) and SCIM (`accounts.scim`) share this module's rules:
`normalise_identity`, `linked_user` (the one-person rule), `roles_from_groups` (the one
group-to-role mapping) and `sync_roles`, under which losing every role runs the leavers'
cascade (`deployments_ui.leavers`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments_ui import audit
from deployments_ui.accounts import leaving, scope_changes, scopes
from deployments_ui.accounts.models import SsoIdentity
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core.http import client_ip, is_trusted_proxy

logger = logging.getLogger(__name__)

ROLE_NAMES = ("Viewer", "Operator", "Editor", "Admin", "Auditor")
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGN_IN_METHOD = "sign_in_method"
SSO_IDENTITY = "sso_identity"
SSO_GROUPS = "sso_groups"
# Unicode categories no identity may contain: controls, format (zero-width) and separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
CLASH_MESSAGE = (
    "Single sign-on cannot sign you in as {identity}: the console already has an account with "
    "that name that was not made by single sign-on. Ask a console administrator to link your "
    "sign-in to that account, or to rename it."
)
# What a person's identity may look like: an email address or a user name, never a list.
_IDENTITY = re.compile(r"^[^\s\x00-\x1f\x7f,;\"<>\\]{1,150}$")


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def _is_email(identity: str) -> bool:
    try:
        validate_email(identity)
    except ValidationError:
        return False
    return True


def normalise_identity(raw: str) -> str | None:
    """The identity as the console stores it, or None when it must be refused.

    Header values reach Django decoded as Latin-1; UTF-8 bytes are decoded back first, so that
    an invisible character cannot hide as a run of odd Latin-1 letters.
    """
    value = raw.strip()
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    value = unicodedata.normalize("NFKC", value)
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        return None
    if not _IDENTITY.match(value):
        return None
    value = value.lower()
    if settings.SSO_REQUIRE_EMAIL and not _is_email(value):
        return None
    return value


def _groups_header(request: HttpRequest) -> str:
    return request.META.get(_meta_key(settings.SSO_GROUPS_HEADER), "")


def roles_from_groups(groups: Iterable[str]) -> list[str]:
    """The console roles the identity provider's group names map to (CONSOLE_SSO_GROUP_ROLES),
    whether they came in the groups header, the OIDC group claim or a SCIM group."""
    mapping = {group.strip(): role.strip() for group, role in settings.SSO_GROUP_ROLES.items()}
    roles = []
    for group in (str(item).strip() for item in groups):
        role = mapping.get(group)
        if role in ROLE_NAMES and role not in roles:
            roles.append(role)
    return roles


def _roles_from_groups_header(request: HttpRequest) -> list[str]:
    return roles_from_groups(_groups_header(request).split(","))


def roles_or_default(groups: Iterable[str]) -> list[str]:
    """The roles the groups map to, else the default role (CONSOLE_SSO_DEFAULT_ROLE)."""
    return roles_from_groups(groups) or _default_roles()


def _default_roles() -> list[str]:
    role = settings.SSO_DEFAULT_ROLE.strip()
    if not role or role.lower() == "none":
        return []
    if role not in ROLE_NAMES:
        logger.error("CONSOLE_SSO_DEFAULT_ROLE %r is not one of %s", role, ", ".join(ROLE_NAMES))
        return []
    return [role]


def role_names(user: User) -> list[str]:
    return sorted(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))


def _set_roles(user: User, roles: list[str]) -> None:
    """Replace the user's role groups (other groups are left alone)."""
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES).exclude(name__in=roles))
    user.groups.add(*Group.objects.filter(name__in=roles))
    # Admins manage people and roles in Django's admin, which only staff may open. The
    # identity provider's groups are the whole truth: superuser status does not survive them.
    fields = []
    if user.is_staff != ("Admin" in roles):
        user.is_staff = "Admin" in roles
        fields.append("is_staff")
    if user.is_superuser:
        user.is_superuser = False
        fields.append("is_superuser")
    if fields:
        user.save(update_fields=fields)
    # Permissions are cached on the user object for the request: forget them.
    for cached in ("_perm_cache", "_user_perm_cache", "_group_perm_cache", scopes.PERMISSIONS_AT):
        user.__dict__.pop(cached, None)


def _sso_actor(request: HttpRequest, identity: str) -> audit.Actor:
    return audit.Actor(
        name="single sign-on",
        sso_identity=identity,
        sign_in_method="sso",
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        request_id=getattr(request, "id", "") or "",
    )


def _sync_roles(request: HttpRequest, user: User, identity: str, roles: list[str]) -> None:
    groups = _groups_header(request).split(",") if settings.SSO_GROUPS_HEADER else None
    try:
        sync_roles(_sso_actor(request, identity), user, roles, groups=groups)
    except audit.AuditUnavailable:
        # Only the leavers' cascade raises it (and rolled itself back): without a role the
        # person can open nothing; the cascade runs again at their next request.
        logger.exception("Could not deactivate user %s, who has no role left", user.pk)


def sync_roles(
    actor: audit.Actor, user: User, roles: list[str], groups: Iterable[str] | None = None
) -> None:
    """Give the user exactly `roles` (audited), and the scoped roles `groups` map to
    (CONSOLE_SSO_GROUP_SCOPES) when the groups are known. Losing every role a person had is
    leaving: the leavers' cascade deactivates them (deployments_ui.leavers)."""
    if groups is not None:
        scope_changes.sync_sso_scopes(actor, user, scope_changes.scopes_from_groups(groups))
    before = role_names(user)
    was_superuser = user.is_superuser
    _set_roles(user, roles)
    after = role_names(user)
    if before == after and not was_superuser:
        return
    message = "Roles taken from the identity provider's groups."
    if was_superuser:
        message += " Superuser status removed: single sign-on accounts never keep it."
    try:
        audit.record_account(
            actor=actor,
            action=AuditEvent.Action.ROLES_CHANGED,
            account=user.get_username(),
            before={"roles": before},
            after={"roles": after},
            message=message,
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record the role change of user %s", user.pk)
    if before and not after and user.is_active:
        leaving.deactivate(user=user, actor=actor, via="the identity provider's groups")
    elif user.is_active:
        leaving.roles_changed(user=user, actor=actor)


class SsoClash(Exception):
    """A local account already has the identity's name, and single sign-on did not make it."""


def _create_sso_user(identity: str) -> tuple[User, bool]:
    """The new account for `identity` and True, or the one a concurrent sign-in made and False."""
    user_model = get_user_model()
    username_field = user_model.USERNAME_FIELD
    if user_model._default_manager.filter(**{f"{username_field}__iexact": identity}).exists():
        raise SsoClash(identity)
    try:
        with transaction.atomic():
            user = user_model._default_manager.create(
                **{username_field: identity},
                email=identity if _is_email(identity) else "",
            )
            user.set_unusable_password()
            user.save(update_fields=["password"])
            SsoIdentity.objects.create(identity=identity, user=user)
    except IntegrityError:
        # Two first sign-ins at once: the other one made the account.
        link = SsoIdentity.objects.select_related("user").filter(identity=identity).first()
        if link is None:
            raise SsoClash(identity) from None
        return link.user, False
    logger.info("Created user %s on their first SSO sign-in", user.pk)
    return user, True


def linked_user(identity: str) -> tuple[User, bool]:
    """The account `identity` signs in as, and whether it was made now (first sign-in).

    Raises SsoClash when a local account (one single sign-on neither made nor was linked to)
    has the identity's name. The trusted header, OpenID Connect and SCIM all come through here.
    """
    link = SsoIdentity.objects.select_related("user").filter(identity=identity).first()
    return (link.user, False) if link else _create_sso_user(identity)


@transaction.atomic
def sso_user(request: HttpRequest, identity: str) -> User:
    """The person the proxy vouches for, created on first sign-in, roles synced from groups.

    Raises SsoClash when a local account (one single sign-on neither made nor was linked to)
    has the identity's name.
    """
    user, created = linked_user(identity)
    if settings.SSO_GROUPS_HEADER:
        _sync_roles(request, user, identity, _roles_from_groups_header(request) or _default_roles())
    elif created:
        _set_roles(user, _default_roles())
    elif user.is_superuser:
        _sync_roles(request, user, identity, role_names(user))
    return user


def _sso_session(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.session.get(SIGN_IN_METHOD) == "sso"


def _end_sso_session(request: HttpRequest, why: str) -> None:
    if _sso_session(request):
        logger.info("Signed out user %s: %s", request.user.pk, why)
        logout(request)


def _sign_in(request: HttpRequest, identity: str) -> HttpResponse | None:
    if request.user.is_authenticated:
        logout(request)
    try:
        user = sso_user(request, identity)
    except SsoClash:
        return _refuse_clash(request, identity)
    if not user.is_active:
        logger.warning("Refused SSO sign-in of deactivated user %s", user.pk)
        return None
    login(request, user, backend=MODEL_BACKEND)  # a new session key
    request.session[SIGN_IN_METHOD] = "sso"
    request.session[SSO_IDENTITY] = identity
    request.session[SSO_GROUPS] = _groups_header(request)
    return None


def _refuse_clash(request: HttpRequest, identity: str) -> HttpResponse:
    logger.warning("Refused SSO sign-in: a local account is already named like the identity")
    # One audit event per identity every ten minutes: the proxy repeats it on every request.
    if cache.add(f"sso-clash:{identity}", 1, timeout=600):
        try:
            audit.record_account(
                actor=_sso_actor(request, identity),
                action=AuditEvent.Action.SSO_REFUSED,
                account=identity,
                outcome=AuditEvent.Outcome.REFUSED,
                message="A local account has this name and single sign-on did not make it.",
            )
        except audit.AuditUnavailable:
            logger.exception("Could not record a refused single sign-on")
    context = {"message": CLASH_MESSAGE.format(identity=identity)}
    return render(request, "403.html", context, status=403)


def _follow_groups(request: HttpRequest, identity: str) -> None:
    """Re-apply roles when the groups header is no longer the one the session started with."""
    if not settings.SSO_GROUPS_HEADER:
        return
    groups = _groups_header(request)
    if request.session.get(SSO_GROUPS) == groups:
        return
    user = request.user
    if not user.is_authenticated:  # the caller checked: an SSO session has a person
        return
    roles = _roles_from_groups_header(request) or _default_roles()
    with transaction.atomic():
        _sync_roles(request, user, identity, roles)
    if not user.is_active:  # every role gone: the leavers' cascade ended their sessions
        logout(request)
        return
    request.session[SSO_GROUPS] = groups


def _follow_header(request: HttpRequest) -> HttpResponse | None:
    header = settings.SSO_HEADER
    claimed = request.META.get(_meta_key(header))
    if not is_trusted_proxy(request):
        if claimed is not None:
            logger.warning(
                "Ignored the %s header from %s, which is not a trusted SSO proxy (path %r)",
                header,
                request.META.get("REMOTE_ADDR", "?"),
                request.path[:200],
            )
        # An SSO session is only valid through the proxy that created it.
        _end_sso_session(request, "request did not come through the SSO proxy")
        return None
    claimed = (claimed or "").strip()
    if not claimed:
        _end_sso_session(request, "the SSO proxy no longer sends an identity")
        return None
    identity = normalise_identity(claimed)
    if identity is None:
        logger.warning(
            "Refused a malformed %s header from %s (not an email address, a list, spaces or "
            "invisible characters; possibly a merged underscore variant)",
            header,
            request.META.get("REMOTE_ADDR", "?"),
        )
        _end_sso_session(request, "the SSO identity was malformed")
        return None
    if _sso_session(request) and request.session.get(SSO_IDENTITY) == identity:
        _follow_groups(request, identity)
        return None
    return _sign_in(request, identity)


class TrustedProxySsoMiddleware:
    """Signs people in from the trusted proxy's identity header; the session follows it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SSO_HEADER:
            refused = _follow_header(request)
            if refused is not None:
                return refused
        return self.get_response(request)
