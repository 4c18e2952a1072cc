"""Security headers on every kind of response, and `check --deploy` with production settings.

Every response the console sends (full pages, htmx fragments, refusals, errors, redirects,
health checks and static files) carries the same protections, because an attacker chooses which
URL to load: a page without frame denial can be framed, whichever page it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.deployments import deployment_url, find_deployment

REPO = Path(__file__).resolve().parents[2]
ONE_YEAR = 365 * 24 * 3600


def csp_directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name] = values
    return directives


def assert_protected(response, *, secure: bool = True) -> None:
    csp = csp_directives(response)
    assert csp.get("default-src") in (["'self'"], ["'none'"]), csp
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    script_src = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script_src
    assert "'nonce'" not in script_src  # django-csp's placeholder must never reach the browser
    assert "'unsafe-eval'" not in script_src
    assert "*" not in script_src
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    if secure:
        hsts = response.headers["Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
        assert max_age >= ONE_YEAR
        assert "includeSubDomains" in hsts


# Each kind of response, as a function of the test client and the people of conftest.


def full_page(client, request):
    return client.get("/accounts/login/", secure=True)


def signed_in_page(client, request):
    client.force_login(request.getfixturevalue("operator"))
    request.getfixturevalue("on_sandbox")
    return client.get("/deployments/", secure=True)


def list_fragment(client, request):
    client.force_login(request.getfixturevalue("operator"))
    request.getfixturevalue("on_sandbox")
    return client.get("/deployments/?page=2", secure=True, headers={"HX-Request": "true"})


def toggle_fragment(client, request):
    client.force_login(request.getfixturevalue("operator"))
    item = find_deployment(request.getfixturevalue("on_sandbox"), enabled=True)
    return client.post(
        deployment_url(item, "disable/"),
        {"fragment": "row"},
        secure=True,
        headers={"HX-Request": "true"},
    )


def refused(client, request):
    client.force_login(request.getfixturevalue("no_role_user"))
    return client.get("/deployments/", secure=True)


def not_found(client, request):
    client.force_login(request.getfixturevalue("viewer"))
    return client.get("/no-such-page/", secure=True)


def wrong_method(client, request):
    client.force_login(request.getfixturevalue("operator"))
    return client.get("/flow-versions/1/deployments/1/enable/", secure=True)


def redirect_to_sign_in(client, request):
    return client.get("/deployments/", secure=True)


def healthz(client, request):
    return client.get("/healthz", secure=True)


def static_file(client, request):
    settings = request.getfixturevalue("settings")
    # Tests have no collected STATIC_ROOT: let WhiteNoise find the files where they are. The
    # middleware reads these settings when the test client builds it, on its first request.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    return client.get("/static/console.css", secure=True)


KINDS = {
    "full page": (full_page, 200),
    "signed-in page": (signed_in_page, 200),
    "htmx list fragment": (list_fragment, 200),
    "htmx enable/disable fragment": (toggle_fragment, 200),
    "403": (refused, 403),
    "404": (not_found, 404),
    "405": (wrong_method, 405),
    "redirect": (redirect_to_sign_in, 302),
    "healthz": (healthz, 200),
    "static file": (static_file, 200),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_response_carries_the_security_headers(client, request, kind):
    make, status = KINDS[kind]
    response = make(client, request)
    assert response.status_code == status
    assert_protected(response)


@pytest.mark.django_db
def test_htmx_fragments_really_are_fragments(client, request):
    # So that the fragment cases above do test fragments, not whole pages.
    for make in (list_fragment, toggle_fragment):
        html = make(client, request).content.decode()
        assert "<html" not in html
        assert "<head" not in html


def test_hsts_is_only_sent_over_https(client):
    # Browsers ignore it over http; Django leaves it out there.
    response = client.get("/healthz")
    assert "Strict-Transport-Security" not in response.headers
    assert_protected(response, secure=False)


@pytest.mark.django_db
def test_every_script_on_a_page_is_a_file_of_ours_or_carries_the_nonce(
    client, operator, on_sandbox
):
    client.force_login(operator)
    response = client.get("/deployments/", secure=True)
    html = response.content.decode()
    script_src = csp_directives(response)["script-src"]
    nonces = {value[len("'nonce-") : -1] for value in script_src if value.startswith("'nonce-")}
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts, "the page loads htmx and the console's script"
    for attributes in scripts:
        src = re.search(r'\ssrc="([^"]*)"', attributes)
        nonce = re.search(r'\snonce="([^"]*)"', attributes)
        assert (src and src.group(1).startswith("/")) or (nonce and nonce.group(1) in nonces), (
            attributes
        )
    # Inline event handlers and hx-on run as inline script: the policy blocks them.
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html)
    assert "hx-on" not in html


@pytest.mark.django_db
def test_the_htmx_script_carries_the_nonce_of_the_policy(client):
    response = client.get("/accounts/login/", secure=True)
    script_src = csp_directives(response)["script-src"]
    nonces = [value[len("'nonce-") : -1] for value in script_src if value.startswith("'nonce-")]
    assert len(nonces) == 1
    htmx = re.search(r"<script\b[^>]*htmx[^>]*>", response.content.decode()).group(0)
    assert f'nonce="{nonces[0]}"' in htmx


@pytest.mark.django_db
def test_static_files_have_a_locked_down_policy_of_their_own(client, settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/static/favicon.svg", secure=True)
    assert response.status_code == 200
    csp = csp_directives(response)
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp


# check --deploy with the environment of a production container


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CONSOLE_", "PATCHWORKS_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "d" + os.urandom(40).hex(),
            "DJANGO_ALLOWED_HOSTS": "console.example.com",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://console.example.com",
            "CONSOLE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "CONSOLE_AUDIT_KEY": os.urandom(32).hex(),
            "CONSOLE_SECURE_COOKIES": "1",
            # TLS ends at the SSO proxy, which says so in X-Forwarded-Proto; anything that
            # still arrives over plain http is sent to https (except the health probes).
            "CONSOLE_BEHIND_TLS_PROXY": "1",
            "CONSOLE_SSL_REDIRECT": "1",
            "CONSOLE_HSTS_SECONDS": str(ONE_YEAR),
            "PATCHWORKS_BASE_URL": "https://core.wearepatchworks.com",
            "CONSOLE_LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_without_the_encryption_keys():
    # Proves the check above really runs the console's own deploy checks.
    result = check_deploy(production_env(CONSOLE_ENCRYPTION_KEYS=""))
    assert result.returncode != 0
    assert "deployments_ui.E001" in result.stdout + result.stderr


def test_check_deploy_flags_a_missing_audit_key():
    result = check_deploy(production_env(CONSOLE_AUDIT_KEY=""))
    assert result.returncode != 0
    assert "deployments_ui.W001" in result.stdout + result.stderr
