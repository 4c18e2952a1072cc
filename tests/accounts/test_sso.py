"""Single sign-on through a trusted proxy header.

The underscore tests send raw bytes through real server code on purpose: under WSGI the app
never sees raw header names (X_Forwarded_Email and X-Forwarded-Email both arrive as
HTTP_X_FORWARDED_EMAIL, and Django's test client maps them the same way), so the first line of
defence is the server dropping underscore names. One test feeds Django's own request handler
(runserver's) in-process, inside the test's transaction; another starts gunicorn with the
project's gunicorn.conf.py. Each first shows the dashed header signing in through the same
server, so a pass means "dropped" rather than "never worked". The second line of defence, a
merged "real,spoofed" value being refused, is tested with the test client.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, User
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from deployments_ui.core.http import client_ip
from deployments_ui.models import SsoIdentity
from tests.servers import REPO, free_port, running

PROXY = "10.0.0.5"
OUTSIDER = "203.0.113.9"
PAGE = "/account/api-key/"


@pytest.fixture
def sso(settings):
    settings.SSO_HEADER = "X-Forwarded-Email"
    settings.SSO_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    settings.SSO_DEFAULT_ROLE = "Viewer"
    settings.SSO_GROUPS_HEADER = ""
    settings.SSO_GROUP_ROLES = {}
    settings.SSO_REQUIRE_EMAIL = True
    return settings


def via(client, identity: str | None, addr: str = PROXY, path: str = PAGE, **headers):
    if identity is not None:
        headers["X-Forwarded-Email"] = identity
    return client.get(path, REMOTE_ADDR=addr, headers=headers)


def signed_in_as(client) -> User | None:
    pk = client.session.get(SESSION_KEY)
    return User.objects.get(pk=pk) if pk else None


@pytest.mark.django_db
def test_first_sign_in_creates_the_person_with_the_default_role(client, sso):
    response = via(client, "ann@example.com")
    assert response.status_code == 200
    user = signed_in_as(client)
    assert user.username == "ann@example.com"
    assert user.email == "ann@example.com"
    assert not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["Viewer"]
    assert client.session["sign_in_method"] == "sso"
    assert client.session["sso_identity"] == "ann@example.com"


@pytest.mark.django_db
def test_an_identity_that_is_not_an_email_gets_no_email(client, sso):
    sso.SSO_REQUIRE_EMAIL = False
    via(client, "ann.smith")
    assert signed_in_as(client).email == ""


@pytest.mark.django_db
def test_the_header_from_an_untrusted_address_is_ignored_and_logged(client, sso, caplog):
    with caplog.at_level(logging.WARNING, logger="deployments_ui.accounts.sso"):
        response = via(client, "adam@example.com", addr=OUTSIDER)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert signed_in_as(client) is None
    assert not User.objects.filter(username="adam@example.com").exists()
    assert "not a trusted SSO proxy" in caplog.text
    assert OUTSIDER in caplog.text


@pytest.mark.django_db
def test_the_header_is_ignored_when_sso_is_off(client, sso):
    sso.SSO_HEADER = ""
    assert via(client, "ann@example.com").status_code == 302
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_an_address_is_not_trusted_because_of_x_forwarded_for(client, sso):
    response = via(client, "adam@example.com", addr=OUTSIDER, **{"X-Forwarded-For": PROXY})
    assert response.status_code == 302
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_the_session_follows_the_header_when_it_changes(client, sso):
    via(client, "ann@example.com")
    first_key = client.session.session_key
    response = via(client, "bob@example.com")
    assert response.status_code == 200
    assert signed_in_as(client).username == "bob@example.com"
    assert client.session["sso_identity"] == "bob@example.com"
    assert client.session.session_key != first_key


@pytest.mark.django_db
def test_the_same_header_keeps_the_same_session(client, sso):
    via(client, "ann@example.com")
    key = client.session.session_key
    via(client, "ann@example.com")
    assert client.session.session_key == key


@pytest.mark.django_db
def test_the_header_disappearing_signs_the_person_out(client, sso):
    via(client, "ann@example.com")
    response = via(client, None)
    assert response.status_code == 302
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_an_sso_session_used_from_outside_the_proxy_is_ended(client, sso):
    via(client, "ann@example.com")
    response = via(client, None, addr=OUTSIDER)
    assert response.status_code == 302
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_a_password_session_is_replaced_by_the_proxy_identity(client, sso, viewer):
    client.force_login(viewer)
    via(client, "ann@example.com")
    assert signed_in_as(client).username == "ann@example.com"
    assert client.session["sign_in_method"] == "sso"


@pytest.mark.django_db
def test_a_password_session_without_the_header_stays(client, sso, viewer):
    client.force_login(viewer)
    assert via(client, None).status_code == 200
    assert signed_in_as(client) == viewer


@pytest.mark.django_db
def test_a_deactivated_person_is_not_signed_in(client, sso):
    ann = User.objects.create_user("ann@example.com", is_active=False)
    SsoIdentity.objects.create(identity="ann@example.com", user=ann)
    assert via(client, "ann@example.com").status_code == 302
    assert signed_in_as(client) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [
        # What a server that merges X_Forwarded_Email into X-Forwarded-Email would pass on.
        "ann@example.com,adam@example.com",
        "ann@example.com, adam@example.com",
        "ann@example.com adam@example.com",
        "x" * 151,
    ],
)
def test_a_merged_or_malformed_identity_is_refused(client, sso, caplog, value):
    with caplog.at_level(logging.WARNING, logger="deployments_ui.accounts.sso"):
        response = via(client, value)
    assert response.status_code == 302
    assert signed_in_as(client) is None
    assert User.objects.count() == 0
    assert "Refused a malformed X-Forwarded-Email header" in caplog.text


@pytest.mark.django_db
def test_a_merged_identity_ends_an_sso_session(client, sso):
    via(client, "ann@example.com")
    via(client, "ann@example.com,adam@example.com")
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_groups_map_to_roles_and_replace_them_at_each_sign_in(client, sso):
    sso.SSO_GROUPS_HEADER = "X-Forwarded-Groups"
    sso.SSO_GROUP_ROLES = {"ops": "Operator", "eng": "Editor", "it": "Admin"}
    via(client, "ann@example.com", **{"X-Forwarded-Groups": "staff,ops,eng"})
    user = signed_in_as(client)
    assert set(user.groups.values_list("name", flat=True)) == {"Operator", "Editor"}
    user.groups.add(Group.objects.create(name="Newsletter"))  # not a role: left alone

    client.logout()
    via(client, "ann@example.com", **{"X-Forwarded-Groups": "ops"})
    assert set(user.groups.values_list("name", flat=True)) == {"Operator", "Newsletter"}

    client.logout()
    via(client, "ann@example.com", **{"X-Forwarded-Groups": "staff"})
    assert set(user.groups.values_list("name", flat=True)) == {"Viewer", "Newsletter"}


@pytest.mark.django_db
def test_without_a_groups_header_roles_set_in_the_console_are_kept(client, sso):
    via(client, "ann@example.com")
    user = signed_in_as(client)
    user.groups.set([Group.objects.get(name="Editor")])
    client.logout()
    via(client, "ann@example.com")
    assert list(user.groups.values_list("name", flat=True)) == ["Editor"]


@pytest.mark.django_db
def test_signing_out_of_sso_goes_to_the_proxy_sign_out(client, sso):
    sso.SSO_LOGOUT_URL = "https://console.example.com/oauth2/sign_out"
    via(client, "ann@example.com")
    response = client.post(
        "/accounts/logout/", REMOTE_ADDR=PROXY, headers={"X-Forwarded-Email": "ann@example.com"}
    )
    assert response["Location"] == "https://console.example.com/oauth2/sign_out"
    assert SESSION_KEY not in client.session


# client_ip: what the audit trail and the login throttle see.


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        (OUTSIDER, "", OUTSIDER),
        (OUTSIDER, "198.51.100.7", OUTSIDER),  # an outsider cannot claim another address
        (PROXY, "", PROXY),
        (PROXY, "198.51.100.7", "198.51.100.7"),
        (PROXY, "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the left part is the client's word
        (PROXY, "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # skip further trusted proxies
        (PROXY, "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        (PROXY, "198.51.100.7, not-an-ip", PROXY),
        ("::ffff:10.0.0.5", "198.51.100.7", "198.51.100.7"),
    ],
)
def test_client_ip(rf, sso, remote, forwarded, expected):
    request = rf.get("/", REMOTE_ADDR=remote)
    if forwarded:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(request) == expected


# The underscore variant, through real servers.


def raw_get(url: str, path: str, header_name: str, value: str) -> int:
    """GET with a header sent exactly as named (http.client does not normalise names)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        connection.putrequest("GET", path)
        connection.putheader(header_name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def through_djangos_server(header_name: str, value: str, addr: str = PROXY) -> int:
    """Send one raw request through Django's own server code, in this test's transaction.

    This is the request handler behind `manage.py runserver` (and live_server), fed raw bytes
    over a socket pair and answering with the console's WSGI app, so header names arrive
    exactly as sent and the peer address is whatever `addr` says.
    """
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, bind_and_activate=False)
    server.server_name, server.server_port = "testserver", 80
    server.setup_environ()
    server.set_app(WSGIHandler())
    ours, theirs = socket.socketpair()
    raw = (
        f"GET {PAGE} HTTP/1.1\r\nHost: testserver\r\n{header_name}: {value}\r\n"
        "Connection: close\r\n\r\n"
    )
    # As the test client does: keep the test's database connection open across the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        ours.sendall(raw.encode())
        WSGIRequestHandler(theirs, (addr, 40000), server)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        theirs.close()
    with ours:
        status_line = ours.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.django_db
def test_the_underscore_variant_is_dropped_by_djangos_server(sso):
    assert through_djangos_server("X-Forwarded-Email", "ann@example.com") == 200
    assert User.objects.filter(username="ann@example.com").exists()
    assert through_djangos_server("X_Forwarded_Email", "adam@example.com") == 302
    assert through_djangos_server("x_forwarded_email", "adam@example.com") == 302
    assert not User.objects.filter(username="adam@example.com").exists()


@pytest.mark.django_db
def test_through_djangos_server_an_outsider_is_still_not_trusted(sso):
    assert through_djangos_server("X-Forwarded-Email", "ann@example.com", addr=OUTSIDER) == 302


@pytest.fixture(scope="module")
def console_in_gunicorn(tmp_path_factory):
    """The console served by gunicorn with the project's own gunicorn.conf.py."""
    workdir = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'console.sqlite3'}",
        "CONSOLE_SSO_HEADER": "X-Forwarded-Email",
        "CONSOLE_SSO_TRUSTED_PROXIES": "127.0.0.1/32",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "GUNICORN_ACCESS_LOG": "",
        # DEBUG only spares this throwaway server a collectstatic; header handling is gunicorn's.
        "DJANGO_DEBUG": "true",
        "PYTHONPATH": str(REPO),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "console.wsgi"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"),
        ],
        env=env,
        log=workdir / "gunicorn.log",
        answers=lambda: raw_get(url, "/healthz", "Accept", "*/*"),
        what="the console in gunicorn",
    ):
        yield url


def test_the_underscore_variant_is_dropped_by_gunicorn_with_our_config(console_in_gunicorn):
    assert raw_get(console_in_gunicorn, PAGE, "X-Forwarded-Email", "ann@example.com") == 200
    assert raw_get(console_in_gunicorn, PAGE, "X_Forwarded_Email", "adam@example.com") == 302
    assert raw_get(console_in_gunicorn, PAGE, "x_forwarded_email", "adam@example.com") == 302


@pytest.mark.django_db
def test_admins_from_sso_may_open_the_people_admin_and_others_may_not():
    from django.contrib.auth.models import Group, User

    from deployments_ui.accounts.sso import _set_roles
    from tests.factories import ensure_roles

    ensure_roles()
    person = User.objects.create_user("ann@example.com")
    _set_roles(person, ["Admin"])
    person = User.objects.get(pk=person.pk)
    assert person.is_staff
    assert person.has_perm("auth.change_user") and person.has_perm("auth.change_group")
    _set_roles(person, ["Viewer"])
    person = User.objects.get(pk=person.pk)
    assert not person.is_staff
    assert Group.objects.get(name="Viewer").permissions.filter(codename="change_user").count() == 0
