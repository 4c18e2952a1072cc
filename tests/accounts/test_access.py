"""The role matrix: every URL the project defines, against every role.

The expectations here are written out independently of
deployments_ui.accounts.access.URL_ACCESS, so a slip in the table shows up as a failure rather than
being checked against itself.
"""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import ResolverMatch, RoutePattern
from django_htmx.middleware import HtmxDetails

from deployments_ui.accounts import access
from deployments_ui.models import AuditEvent

# OpenID Connect's way in and SCIM (which checks its own bearer token) need no session.
OIDC_AND_SCIM = {"oidc-start", "oidc-callback", "scim-users", "scim-user", "scim-groups"}
EVERYONE = {
    "login",
    "logout",
    "set-language",
    "healthz",
    "readyz",
    "scim-group",
    "scim-config",
    "calendar-ics",
    *OIDC_AND_SCIM,
}
SIGNED_IN = EVERYONE | {"home", "api-key"}
VIEW = SIGNED_IN | {
    "deployment-list",
    "flow-version-deployment-list",
    "deployment-detail",
    "picker-flow-versions",
    "audit-log",
    "audit-export",
    "audit-event",
    "calendar",
    "calendar-feed",
    "calendar-feed-revoke",
    "saved-view-create",
    "saved-view-rename",
    "saved-view-delete",
    "schedule-list",
    "change-list",
    "change-detail",
    "job-list",
    "job-detail",
    "notification-settings",
    "notification-edit",
    "notification-delete",
    "api-tokens",
    "api-token-revoke",
}
TOGGLE = VIEW | {
    "deployment-enable",
    "deployment-disable",
    "deployment-schedule",
    "schedule-cancel",
    "schedule-move",
    "change-approve",
    "change-decline",
    "change-apply",
    "change-edit",
    "change-withdraw",
    "audit-undo",
    "deployment-bulk",
    "job-cancel",
    "job-retry",
}
CHANGE = TOGGLE | {"deployment-create", "deployment-edit", "deployment-delete"}
MANAGE = CHANGE | {
    "service-key",
    "worker-status",
    "change-control-settings",
    "freeze-windows",
    "webhook-list",
    "webhook-create",
    "webhook-detail",
    "webhook-edit",
    "webhook-delete",
    "webhook-test",
    "people-list",
    "person-roles",
    "api-token-list",
}
ALL_NAMED = MANAGE
WRITES = {
    "deployment-enable": "enable",
    "deployment-disable": "disable",
    "deployment-create": "create",
    "deployment-edit": "update",
    "deployment-delete": "delete",
    "deployment-schedule": "schedule",
    "deployment-bulk": "bulk",
}
# role fixture -> (URL names it may use, whether it may use Django's admin)
ROLES = {
    "anonymous": (EVERYONE, False),
    "no_role_user": (SIGNED_IN, False),
    "viewer": (VIEW, False),
    "operator": (TOGGLE, False),
    "editor": (CHANGE, False),
    "admin_user": (MANAGE, True),
    # Sees the whole trail and exports it; changes nothing.
    "auditor": (VIEW, False),
}
SAMPLE = {
    "flow_version": "11",
    "deployment": "101",
    "view": "7",
    "change": "1",
    "pk": "1",
    "job": "1",
    "subscription": "1",
    "webhook": "1",
    "resource": "1",
    "person": "1",
    "token": "1",
}
# Namespaces open to everyone at the door: the REST API checks its own bearer tokens.
OPEN_NAMESPACES = {"api"}


def walk(patterns, namespaces: tuple[str, ...] = (), prefix: str = ""):
    """Every URL pattern under `patterns`, with its namespaces and route, recursively."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            yield from walk(pattern.url_patterns, inner, route)
        else:
            assert isinstance(pattern, URLPattern)
            yield namespaces, pattern, route


PATTERNS = list(walk(get_resolver().url_patterns))
APP_PATTERNS = [(ns, p, route) for ns, p, route in PATTERNS if not ns]
ADMIN_PATTERNS = [(ns, p, route) for ns, p, route in PATTERNS if ns and ns[0] == "admin"]


def label(item) -> str:
    namespaces, pattern, route = item
    return ":".join([*namespaces, pattern.name or f"<unnamed {route}>"])


def person(request, role: str):
    return AnonymousUser() if role == "anonymous" else request.getfixturevalue(role)


def decide(user, namespaces, pattern, method: str = "GET"):
    """Run the access middleware's check for `pattern`, as the resolver would have matched it."""
    request = RequestFactory().generic(method, "/somewhere/")
    request.user = user
    request.session = {}
    request.htmx = HtmxDetails(request)
    kwargs = {name: SAMPLE.get(name, "1") for name in pattern.pattern.converters}
    request.resolver_match = ResolverMatch(
        pattern.callback, (), kwargs, pattern.name, namespaces=list(namespaces)
    )
    middleware = access.AccessMiddleware(lambda r: None)
    return middleware.process_view(request, pattern.callback, (), kwargs)


def test_the_project_defines_urls_to_check():
    assert len(APP_PATTERNS) >= len(ALL_NAMED)
    assert len(ADMIN_PATTERNS) > 10


@pytest.mark.parametrize("item", APP_PATTERNS, ids=label)
def test_every_url_is_in_the_access_table(item):
    _, pattern, route = item
    assert pattern.name, f"The URL {route!r} has no name, so nobody may use it."
    assert pattern.name in access.URL_ACCESS, (
        f"The URL {pattern.name!r} is not in deployments_ui.accounts.access.URL_ACCESS: "
        "decide who may use it, add it there, and add it to the expectations in this test."
    )
    assert pattern.name in ALL_NAMED, f"Add {pattern.name!r} to this test's expectations."


def test_the_table_names_no_url_that_does_not_exist():
    assert set(access.URL_ACCESS) == {p.name for _, p, _ in APP_PATTERNS}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(request, role):
    user = person(request, role)
    may_use, may_admin = ROLES[role]
    wrong = []
    for namespaces, pattern, route in PATTERNS:
        if namespaces and namespaces[0] in OPEN_NAMESPACES:
            expected = True
        else:
            expected = may_admin if namespaces else pattern.name in may_use
        allowed = decide(user, namespaces, pattern) is None
        if allowed != expected:
            wrong.append(f"{label((namespaces, pattern, route))}: allowed={allowed}")
        if allowed:
            assert access.may(user, ":".join([*namespaces, pattern.name or ""])) or not pattern.name
    assert not wrong, f"{role} got the wrong answer for: {wrong}"


@pytest.mark.django_db
def test_a_url_missing_from_the_table_is_refused_even_to_a_superuser(admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    pattern = URLPattern(RoutePattern("new/"), lambda r: None, name="brand-new-page")
    response = decide(admin_user, (), pattern)
    assert response.status_code == 403
    assert not access.may(admin_user, "brand-new-page")


# Through the whole stack: the middleware is installed and answers in plain words.


def url_for(pattern, route: str) -> str:
    url = "/" + route
    for name in pattern.pattern.converters:
        for converter in ("str", "int", "pwid"):
            url = url.replace(f"<{converter}:{name}>", SAMPLE[name])
    return url


APP_URLS = {p.name: url_for(p, route) for _, p, route in APP_PATTERNS}


@pytest.fixture
def offline():
    """Patchworks unreachable: an allowed view fails upstream, which is not a refusal."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_through_the_stack(request, role, client, offline):
    user = person(request, role)
    if role != "anonymous":
        client.force_login(user)
    client.raise_request_exception = False
    may_use, _ = ROLES[role]
    for name, url in APP_URLS.items():
        method = "post" if name in WRITES or name == "logout" else "get"
        response = getattr(client, method)(url)
        refused = response.status_code == 403 and b"You cannot do this" in response.content
        sent_to_login = response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        )
        if name in may_use:
            assert not refused, f"{role} was refused {name}"
            if name not in {"logout", "home"}:
                assert not sent_to_login, f"{role} was sent to sign in for {name}"
        elif role == "anonymous":
            assert sent_to_login, f"anonymous was not sent to sign in for {name}"
        else:
            assert refused, f"{role} was not refused {name} ({response.status_code})"
        if role != "anonymous" and name == "logout":
            client.force_login(user)


@pytest.mark.django_db
def test_admin_is_for_staff_only(client, viewer, admin_user):
    assert client.get("/admin/")["Location"].startswith("/accounts/login/?next=/admin/")
    client.force_login(viewer)
    response = client.get("/admin/")
    assert response.status_code == 403
    assert b"Only console administrators" in response.content
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_person_without_a_role_is_told_to_ask_for_one(client, no_role_user):
    client.force_login(no_role_user)
    response = client.get("/deployments/")
    assert response.status_code == 403
    assert b"you have not been given a role" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("name", WRITES)
def test_a_refused_write_is_recorded_in_the_audit_trail(client, viewer, name):
    client.force_login(viewer)
    response = client.post(APP_URLS[name], {"reason": "trying"})
    assert response.status_code == 403
    event = AuditEvent.objects.get()
    assert event.outcome == AuditEvent.Outcome.REFUSED
    assert event.action == WRITES[name]
    assert event.user_id == viewer.pk
    # The bulk URL names no single deployment.
    assert event.flow_version_id == ("" if name == "deployment-bulk" else "11")
    assert event.deployment_id == (
        "" if name in ("deployment-create", "deployment-bulk") else "101"
    )
    assert event.message.startswith("You do not have permission to")


@pytest.mark.django_db
def test_a_refused_read_is_not_an_audit_event(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(APP_URLS["deployment-detail"]).status_code == 403
    assert client.get(APP_URLS["deployment-enable"]).status_code == 403
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_an_expired_session_on_an_htmx_request_redirects_the_whole_page(client):
    response = client.post(
        APP_URLS["deployment-enable"],
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/deployments/?page=2"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/deployments/%3Fpage%3D2"


@pytest.mark.django_db
def test_an_expired_session_on_a_post_signs_in_without_coming_back_to_the_post(client):
    response = client.post(APP_URLS["deployment-enable"])
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who", ["anonymous", "no_role_user", "viewer", "operator", "editor", "admin_user", "auditor"]
)
def test_pages_show_the_buttons_the_access_table_allows(rf, request, who):
    from deployments_ui.context_processors import BUTTONS, console

    user = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    page = rf.get("/")
    page.user = user
    flags = console(page)
    for flag, url_name in BUTTONS.items():
        assert flags[flag] is access.may(user, url_name)
    assert flags["can_toggle"] is (who in ("operator", "editor", "admin_user"))
    assert flags["can_change"] is (who in ("editor", "admin_user"))


@pytest.mark.django_db
def test_no_role_holds_a_permission_for_events_that_do_not_exist():
    from django.contrib.auth.models import Permission

    assert not Permission.objects.filter(codename="view_all_audit").exists()
    roles = Permission.objects.filter(content_type__model="consoleaccess")
    assert set(roles.values_list("codename", flat=True)) == {
        "view_deployments",
        "toggle_deployments",
        "change_deployments",
        "manage_console",
        "break_glass",
        "audit_everything",
    }
