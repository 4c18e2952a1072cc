"""A pytest plugin serving the local OpenID Connect provider (idp/) over real HTTP.

It runs in its own gunicorn with its own SQLite database and an RSA key made at start, with the
console registered as a client (PKCE required) for the live server and the test client.

    def test_it(oidc_provider): ...   # the console's OIDC settings point at the provider
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
import requests

from tests.servers import REPO, free_port, running

CLIENT_ID = "deployments-console"
SETUP = (
    "import django, sys; django.setup(); from django.core.management import call_command; "
    "call_command('migrate', interactive=False, verbosity=0); "
    "call_command('idp_setup', *sys.argv[1:])"
)
GROUP_ROLES = {
    "console-admins": "Admin",
    "console-editors": "Editor",
    "console-operators": "Operator",
    "console-viewers": "Viewer",
}
PASSWORD = "idp-password"


@dataclass(frozen=True)
class IdpServer:
    url: str
    client_secret: str
    database: Path

    def set_groups(self, email: str, groups: list[str]) -> None:
        """Change a person's groups at the provider (its own SQLite database)."""
        with sqlite3.connect(self.database) as db:
            (user,) = db.execute("SELECT id FROM auth_user WHERE username = ?", (email,)).fetchone()
            db.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user,))
            for name in groups:
                db.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                (group,) = db.execute(
                    "SELECT id FROM auth_group WHERE name = ?", (name,)
                ).fetchone()
                db.execute(
                    "INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)", (user, group)
                )

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"


@pytest.fixture(scope="session")
def idp_server(tmp_path_factory: pytest.TempPathFactory, live_server) -> Iterator[IdpServer]:
    """The provider in gunicorn on a free port, the console registered for both its addresses."""
    workdir = tmp_path_factory.mktemp("idp")
    secret = os.urandom(16).hex()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "idp.settings",
        "IDP_DATABASE": str(workdir / "idp.sqlite3"),
        # Made by the set-up, read by the server: in the test's temporary directory only.
        "IDP_RSA_KEY_FILE": str(workdir / "signing-key.pem"),
        "PYTHONPATH": str(REPO),
    }
    args = ["--client-id", CLIENT_ID, "--client-secret", secret, "--quiet"]
    args += ["--console-url", live_server.url, "--console-url", "http://testserver"]
    done = subprocess.run(
        [sys.executable, "-c", SETUP, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"setting up the identity provider failed:\n{done.stderr}")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:idp.gunicorn_conf"]
    command += ["idp.wsgi", "-b", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    with running(
        command,
        env=env,
        log=workdir / "gunicorn.log",
        answers=lambda: requests.get(f"{url}/o/.well-known/openid-configuration", timeout=5),
        what="the identity provider",
    ):
        yield IdpServer(url, secret, workdir / "idp.sqlite3")


@pytest.fixture
def oidc_provider(idp_server: IdpServer, settings) -> IdpServer:
    """Sign-in with OpenID Connect switched on, pointing at the local provider."""
    settings.OIDC_ISSUER = idp_server.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = idp_server.client_secret
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_PROVIDER_NAME = "Local IdP"
    settings.SSO_GROUP_ROLES = dict(GROUP_ROLES)
    settings.SSO_DEFAULT_ROLE = "none"
    return idp_server


def sign_in_at_provider(
    authorize_url: str,
    email: str,
    password: str = PASSWORD,
    browser: requests.Session | None = None,
) -> str:
    """Follow the console's redirect to the provider as a browser would, sign in there, and
    return where the provider sends the browser back (the console's callback, with a code).
    Pass `browser` to keep the provider's session cookie for a later silent re-check."""
    browser = browser if browser is not None else requests.Session()
    page = browser.get(authorize_url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    back = browser.post(
        page.url,
        data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": password},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=30,
    )
    while back.status_code == 302 and not back.headers["Location"].startswith("http://testserver"):
        back = browser.get(
            requests.compat.urljoin(back.url, back.headers["Location"]),
            allow_redirects=False,
            timeout=30,
        )
    assert back.status_code == 302, back.text[:500]
    return unescape(back.headers["Location"])
