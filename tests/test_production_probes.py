"""The security probes again, over real HTTP, against gunicorn in production settings.

gunicorn runs the project's gunicorn.conf.py with DEBUG off, real secrets, secure cookies,
HTTPS redirects and a trusted proxy at 127.0.0.2 (the whole of 127.0.0.0/8 is this machine, so
the test can speak both as the proxy and as a client connecting directly from 127.0.0.1).
Patchworks is a tiny local server that counts the calls it gets and always answers 429.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet

from tests.servers import REPO, free_port, running

PROXY = "127.0.0.2"
CLIENT = "127.0.0.1"
HOST = "127.0.0.1"


class RateLimitedPatchworks(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        body = b'{"message": "Too Many Attempts."}'
        self.send_response(429)
        self.send_header("Retry-After", "60")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def request(
    port: int, method: str, path: str, *, source: str = CLIENT, headers: dict | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(HOST, port, timeout=30, source_address=(source, 0))
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {"Host": f"{HOST}:{port}", **(headers or {})}.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.fixture(scope="module")
def patchworks():
    server = ThreadingHTTPServer((HOST, 0), RateLimitedPatchworks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def console(tmp_path_factory, patchworks):
    """gunicorn with the project's config and production settings; yields its port."""
    workdir = tmp_path_factory.mktemp("production")
    # Production settings with the static files collected into this throwaway directory.
    (workdir / "probe_settings.py").write_text(
        f"from console.settings import *  # noqa: F403\nSTATIC_ROOT = {str(workdir / 'static')!r}\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CONSOLE_", "PATCHWORKS_", "GUNICORN_", "FORWARDED_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "probe_settings",
            "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO)]),
            "DATABASE_URL": f"sqlite:///{workdir / 'console.sqlite3'}",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "CONSOLE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "CONSOLE_AUDIT_KEY": secrets.token_urlsafe(48),
            "CONSOLE_SECURE_COOKIES": "1",
            "CONSOLE_BEHIND_TLS_PROXY": "1",
            "CONSOLE_SSL_REDIRECT": "1",
            "CONSOLE_SSO_HEADER": "X-Forwarded-Email",
            "CONSOLE_SSO_TRUSTED_PROXIES": f"{PROXY}/32",
            "FORWARDED_ALLOW_IPS": PROXY,
            "PATCHWORKS_BASE_URL": f"http://{HOST}:{patchworks.server_address[1]}",
            "PATCHWORKS_GET_RETRIES": "0",
            "CONSOLE_LOG_LEVEL": "WARNING",
            "GUNICORN_ACCESS_LOG": "",
            "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16),
        }
    )
    for command in (
        ["migrate", "--noinput"],
        ["collectstatic", "--noinput", "--verbosity", "0"],
        [
            "createsuperuser",
            "--noinput",
            "--username",
            "admin@example.com",
            "--email",
            "admin@example.com",
        ],
    ):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    with running(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "console.wsgi"),
            *("--bind", f"{HOST}:{port}", "--workers", "1", "--threads", "4"),
        ],
        env=env,
        log=workdir / "gunicorn.log",
        answers=lambda: request(port, "GET", "/healthz"),
        what="the console in gunicorn",
    ):
        yield port


def via_proxy(identity: str, **headers: str) -> dict:
    return {"X-Forwarded-Email": identity, "X-Forwarded-Proto": "https", **headers}


def test_sso_never_signs_in_as_a_local_account(console):
    refused = request(
        console, "GET", "/account/api-key/", source=PROXY, headers=via_proxy("admin@example.com")
    )
    assert refused.status == 403
    assert b"already has an account with that name" in refused.body
    assert "sessionid" not in (refused.getheader("Set-Cookie") or "")
    # Not an email address: no sign-in at all.
    bare = request(console, "GET", "/account/api-key/", source=PROXY, headers=via_proxy("admin"))
    assert bare.status == 302 and "/accounts/login/" in bare.getheader("Location")
    # Straight from a client, the header means nothing (and plain http goes to https).
    direct = request(console, "GET", "/account/api-key/", headers=via_proxy("admin@example.com"))
    assert direct.status == 301 and direct.getheader("Location").startswith("https://")


def test_readiness_spends_one_patchworks_call_and_a_429_is_reachable(console, patchworks):
    before = RateLimitedPatchworks.calls
    statuses = [request(console, "GET", "/readyz").status for _ in range(20)]
    assert statuses == [200] * 20
    assert RateLimitedPatchworks.calls - before <= 1
    assert request(console, "HEAD", "/healthz").status == 200


def test_malformed_ids_are_plain_404s_without_echoed_headers(console):
    for path in [
        "/flow-versions/1/deployments/%0d%0aX:1/enable/",
        "/flow-versions/%2E%2E/deployments/",
        "/flow-versions/caf%C3%A9/deployments/",
        f"/flow-versions/{'x' * 70}/deployments/",
    ]:
        response = request(
            console,
            "POST" if path.endswith("enable/") else "GET",
            path,
            source=PROXY,
            headers={"X-Forwarded-Proto": "https", "HX-Request": "true"},
        )
        assert response.status == 404, path
        assert b"This page does not exist" in response.body
        assert response.getheader("HX-Retarget") is None
        assert response.getheader("X") is None


def test_signed_in_pages_with_odd_input_answer_and_are_never_stored(console):
    ann = via_proxy("ann@example.com")
    for path, status in [
        ("/audit/?date_to=9999-12-31", 200),
        ("/audit/export.csv?date_to=9999-12-31", 200),
        ("/pickers/flow-versions/?flow_version=a/b", 404),
    ]:
        response = request(console, "GET", path, source=PROXY, headers=ann)
        assert response.status == status, path
        cache_control = {part.strip() for part in response.getheader("Cache-Control").split(",")}
        assert {"no-store", "private"} <= cache_control, path


def test_request_ids_and_https_are_believed_from_the_proxy_only(console):
    chosen = "proxy-chosen-request-0001"
    from_proxy = request(console, "GET", "/healthz", source=PROXY, headers={"X-Request-ID": chosen})
    from_client = request(console, "GET", "/healthz", headers={"X-Request-ID": chosen})
    assert from_proxy.getheader("X-Request-ID") == chosen
    assert from_client.getheader("X-Request-ID") != chosen

    https = {"X-Forwarded-Proto": "https"}
    assert request(console, "GET", "/accounts/login/", source=PROXY, headers=https).status == 200
    spoofed = request(console, "GET", "/accounts/login/", headers=https)
    assert spoofed.status == 301 and spoofed.getheader("Location").startswith("https://")
