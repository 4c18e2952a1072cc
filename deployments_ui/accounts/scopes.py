"""Roles scoped by place: a person's role may differ per environment type, per environment and
per flow ("Operator in test environments, Viewer in live ones, Editor in UK Live").

A person's role group (Viewer, Operator, Editor, Admin, Auditor) is their role everywhere no
scope covers. A scope (`RoleScope`) gives one role (Viewer, Operator or Editor) in one place: an
environment type (test, live, or global: the deployments in no environment), one environment,
either narrowed to one flow, or one flow anywhere. The most specific scope that covers a
deployment decides: an environment beats an environment type, and a flow narrows either (a flow
in an environment, an environment, a flow in a type, a type, a flow anywhere). A scope may give
less than the role group (an Operator who only watches live) or more (a Viewer who may switch
test deployments).

Scopes decide only what may be done to deployments (see, enable and disable, create, edit and
delete); managing the console, break glass and the whole audit trail come from the role group
alone. `permissions_at(user, None)` is what the person may do somewhere: the access table lets
them open a page when some place allows it, and the write path (`deployments.writes`) then asks
for the deployment's own place, as do approvals, schedules, bulk items and undo.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.utils.translation import gettext

from deployments_ui.accounts.models import RoleScope
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef

APP = "deployments_ui"
SCOPED_ROLES = ("Viewer", "Operator", "Editor")
DEPLOYMENT_PERMISSIONS = frozenset(
    f"{APP}.{name}" for name in ("view_deployments", "toggle_deployments", "change_deployments")
)
PlaceType = RoleScope.PlaceType
_SCOPES = "_console_role_scopes"
_ROLE_PERMISSIONS = "_console_scoped_role_permissions"
PERMISSIONS_AT = "_console_permissions_at"


def scopes_of(user: Any) -> list[RoleScope]:
    """The person's scopes, read once per user object (`forget` after changing them)."""
    if not getattr(user, "pk", None):
        return []
    if _SCOPES not in user.__dict__:
        user.__dict__[_SCOPES] = list(RoleScope.objects.filter(user_id=user.pk))
    return user.__dict__[_SCOPES]


def forget(user: Any) -> None:
    """Drop what this user object remembers of its scopes and permissions."""
    for cached in (_SCOPES, _ROLE_PERMISSIONS, PERMISSIONS_AT, "_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cached, None)
    user.__dict__.pop("_group_perm_cache", None)


def _role_permissions(user: Any) -> dict[str, frozenset[str]]:
    """Each scoped role's deployment permissions, as its group holds them."""
    if _ROLE_PERMISSIONS not in user.__dict__:
        found: dict[str, set[str]] = {role: set() for role in SCOPED_ROLES}
        rows = Group.objects.filter(name__in=SCOPED_ROLES).values_list(
            "name", "permissions__content_type__app_label", "permissions__codename"
        )
        for name, app, codename in rows:
            if app and f"{app}.{codename}" in DEPLOYMENT_PERMISSIONS:
                found[name].add(f"{app}.{codename}")
        user.__dict__[_ROLE_PERMISSIONS] = {k: frozenset(v) for k, v in found.items()}
    return user.__dict__[_ROLE_PERMISSIONS]


def place_of(where: Any) -> DeploymentRef:
    """A DeploymentRef for a Deployment, a DeploymentRef, an EnvironmentRef or a model row."""
    if isinstance(where, EnvironmentRef):
        return DeploymentRef(
            environment_id=where.id, environment_name=where.name, environment_type=where.type
        )
    return DeploymentRef.of(where)


def place_type(ref: DeploymentRef) -> str:
    """test, live, global, or '' when the environment's type is not known."""
    if ref.environment_type:
        return ref.environment_type
    if not ref.environment_id:
        return PlaceType.GLOBAL
    return ""


def _specificity(scope: RoleScope) -> int:
    return (4 if scope.environment_id else 2 if scope.environment_type else 0) + (
        1 if scope.flow_id else 0
    )


def _covers(scope: RoleScope, ref: DeploymentRef, kind: str) -> bool | None:
    """Whether the scope covers the place; None when it cannot be told (type unknown)."""
    if scope.flow_id and scope.flow_id != ref.flow_id:
        return False
    if scope.environment_id:
        return scope.environment_id == ref.environment_id
    if scope.environment_type:
        return None if not kind else scope.environment_type == kind
    return True


def permissions_at(user: Any, where: Any = None) -> frozenset[str]:
    """The console permissions the person holds at a place (a deployment, a DeploymentRef or an
    EnvironmentRef), or anywhere at all when `where` is None.

    Worked out once per place and user object (a list asks for each of its rows), like the
    scopes themselves (`forget` after changing them)."""
    if user is None or not getattr(user, "is_active", False):
        return frozenset()
    known = user.__dict__.setdefault(PERMISSIONS_AT, {})
    if where is None or user.is_superuser or not scopes_of(user):
        where = None  # no scope: the same everywhere
    ref = None if where is None else place_of(where)
    key = None if ref is None else (ref.flow_id, ref.environment_id, place_type(ref))
    if key not in known:
        known[key] = _permissions_at(user, ref)
    return known[key]


def _permissions_at(user: Any, ref: DeploymentRef | None) -> frozenset[str]:
    base = frozenset(user.get_all_permissions())
    if user.is_superuser:
        return base
    scopes = scopes_of(user)
    if not scopes:
        return base
    roles = _role_permissions(user)
    if ref is None:
        return base.union(*(roles.get(scope.role, frozenset()) for scope in scopes))
    kind = place_type(ref)
    certain = [s for s in scopes if _covers(s, ref, kind)]
    uncertain = [s for s in scopes if _covers(s, ref, kind) is None]
    rest = base - DEPLOYMENT_PERMISSIONS
    if certain:
        best = max(certain, key=_specificity)
        if not uncertain or _specificity(best) > max(map(_specificity, uncertain)):
            return rest | roles.get(best.role, frozenset())
    if uncertain:
        # The environment's type is unknown: the least of what any type scope would give.
        least = base & DEPLOYMENT_PERMISSIONS
        for scope in uncertain:
            least &= roles.get(scope.role, frozenset())
        return rest | least
    return base


def has_permission_at(user: Any, permission: str, where: Any = None) -> bool:
    return permission in permissions_at(user, where)


def place_words(where: Any) -> str:
    """'in UK Live', 'in live environments', 'globally': where a refusal says it applies."""
    ref = place_of(where)
    if ref.environment_name and not ref.is_global:
        return gettext("in %(place)s") % {"place": ref.environment_name}
    kind = place_type(ref)
    if kind == PlaceType.GLOBAL:
        return gettext("in no environment (global)")
    if kind:
        label = gettext(PlaceType(kind).label) if kind in PlaceType.values else kind
        return gettext("in %(place)s") % {"place": label}
    return gettext("there")


def describe(user: Any) -> list[str]:
    """The person's roles in words, role group first: ['Viewer', 'Operator in test
    environments']: what the audit trail records before and after a change of scope."""
    groups = sorted(user.groups.values_list("name", flat=True))
    scopes = sorted(scopes_of(user), key=lambda s: (-_specificity(s), s.place))
    return [*groups, *(str(scope) for scope in scopes)]


def describe_shown(user: Any) -> list[str]:
    """`describe` in the reader's language, for pages."""
    groups = sorted(user.groups.values_list("name", flat=True))
    scopes = sorted(scopes_of(user), key=lambda s: (-_specificity(s), s.place))
    return [*groups, *(scope.shown for scope in scopes)]


def scope_fields(scopes: Iterable[RoleScope]) -> list[tuple[str, str, str, str]]:
    """What identifies each scope: (role, type, environment id, flow id)."""
    return [(s.role, s.environment_type, s.environment_id, s.flow_id) for s in scopes]
