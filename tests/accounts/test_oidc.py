"""Sign-in with OpenID Connect against the local provider (idp/, its own process), and what a
misconfigured provider looks like (plain pages, never a traceback)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from deployments_ui.accounts import oidc
from deployments_ui.accounts.sso import role_names
from deployments_ui.models import AuditEvent, SsoIdentity
from tests.factories import make_user
from tests.idp_fixtures import sign_in_at_provider

pytestmark = pytest.mark.django_db


def start(client, next_page: str = "/deployments/") -> str:
    response = client.get(f"/accounts/oidc/start/?next={next_page}")
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def form_action(response) -> str:
    directives = (part.strip() for part in response["Content-Security-Policy"].split(";"))
    return next(d for d in directives if d.startswith("form-action ")).removeprefix("form-action ")


def sign_in(client, email: str, browser: requests.Session | None = None) -> object:
    back = sign_in_at_provider(start(client), email, browser=browser)
    parts = urlsplit(back)
    assert parts.path == "/accounts/oidc/callback/", back
    return client.get(f"{parts.path}?{parts.query}")


def test_the_way_to_the_provider_uses_pkce_state_and_nonce(client, oidc_provider):
    query = parse_qs(urlsplit(start(client)).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"] and query["nonce"]
    assert query["scope"] == ["openid email profile groups"]
    assert query["redirect_uri"] == ["http://testserver/accounts/oidc/callback/"]


def test_signing_in_links_the_identity_and_maps_the_groups_to_a_role(client, oidc_provider):
    response = sign_in(client, "eddie@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/deployments/"
    link = SsoIdentity.objects.select_related("user").get(identity="eddie@example.com")
    assert role_names(link.user) == ["Editor"]  # console-editors; "staff" maps to nothing
    assert client.session["sign_in_method"] == "oidc"
    assert client.session["sso_identity"] == "eddie@example.com"
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROLES_CHANGED)
    assert event.after == {"account": "eddie@example.com", "roles": ["Editor"]}
    assert event.sign_in_method == "oidc"
    # Signing in again finds the same person.
    client.logout()
    sign_in(client, "eddie@example.com")
    assert User.objects.filter(username="eddie@example.com").count() == 1


def test_without_a_group_claim_roles_are_the_admins_after_the_first_sign_in(
    client, oidc_provider, settings
):
    settings.OIDC_GROUPS_CLAIM = ""
    settings.SSO_DEFAULT_ROLE = "Viewer"
    sign_in(client, "alice@example.com")
    alice = User.objects.get(username="alice@example.com")
    assert role_names(alice) == ["Viewer"]  # the default, not her groups
    alice.groups.set([*alice.groups.exclude(name="Viewer"), Group.objects.get(name="Editor")])
    client.logout()
    sign_in(client, "alice@example.com")
    assert role_names(alice) == ["Editor"]  # an admin's choice stays


def test_a_local_account_with_the_same_name_is_not_taken_over(client, oidc_provider):
    make_user("olga@example.com", "Viewer")
    response = sign_in(client, "olga@example.com")
    assert response.status_code == 403
    assert b"already has an account with that name" in response.content
    assert not SsoIdentity.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SSO_REFUSED).exists()
    assert "_auth_user_id" not in client.session


def test_a_switched_off_person_is_refused(client, oidc_provider):
    person = make_user("vic@example.com", None)
    person.is_active = False
    person.save()
    SsoIdentity.objects.create(identity="vic@example.com", user=person)
    response = sign_in(client, "vic@example.com")
    assert response.status_code == 403
    assert b"switched off" in response.content
    assert "_auth_user_id" not in client.session


def test_groups_that_drop_every_role_deactivate_the_person(client, oidc_provider):
    person = make_user("ned@example.com", "Editor", api_key="sandbox-key-editor")
    SsoIdentity.objects.create(identity="ned@example.com", user=person)
    response = sign_in(client, "ned@example.com")  # only "finance" now; no default role
    assert response.status_code == 403
    person.refresh_from_db()
    assert not person.is_active
    assert not hasattr(person, "api_credential") or not person.api_credential
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"roles_changed", "deactivated", "sessions_ended", "api_key_removed"} <= actions


def test_sign_out_ends_the_session_at_the_provider_too(client, oidc_provider):
    sign_in(client, "olga@example.com")
    id_token = client.session["oidc_id_token"]
    # Pages let the Sign out form go on to the provider (CSP form-action), and only for OIDC.
    policy = form_action(client.get("/account/api-key/"))
    assert policy == f"'self' {oidc_provider.url}"
    response = client.post("/accounts/logout/")
    end = urlsplit(response["Location"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == f"{oidc_provider.issuer}/logout/"
    query = parse_qs(end.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert "_auth_user_id" not in client.session
    # The provider accepts it and sends the browser back to the console's sign-in page.
    back = requests.get(response["Location"], allow_redirects=False, timeout=30)
    assert back.status_code == 302
    assert back.headers["Location"] == "http://testserver/accounts/login/"


def test_the_sign_in_is_rechecked_at_the_provider_when_its_time_is_up(client, oidc_provider):
    sign_in(client, "vic@example.com")
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    response = client.get("/deployments/")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(f"{oidc_provider.issuer}/authorize/")
    assert query["prompt"] == ["none"]
    assert query["code_challenge_method"] == ["S256"]
    # htmx asks for a full reload rather than following the redirect inside the page.
    response = client.get("/deployments/", headers={"HX-Request": "true"})
    assert response.headers.get("HX-Refresh") == "true"
    # The provider says the sign-in there has ended: the console signs the person out.
    state = query["state"][0]
    response = client.get(f"/accounts/oidc/callback/?error=login_required&state={state}")
    assert response.status_code == 403
    assert b"Your sign-in at Local IdP has ended" in response.content
    assert "_auth_user_id" not in client.session


def test_a_silent_recheck_brings_the_groups_changed_at_the_provider(client, oidc_provider):
    browser = requests.Session()  # keeps the provider's own session cookie
    sign_in(client, "vic@example.com", browser)
    vic = User.objects.get(username="vic@example.com")
    assert role_names(vic) == ["Viewer"]
    oidc_provider.set_groups("vic@example.com", ["console-editors"])
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()

    to_provider = client.get("/deployments/?page=2")["Location"]
    back = browser.get(to_provider, allow_redirects=False, timeout=30)  # no password asked
    assert back.status_code == 302, (back.status_code, back.text[:800])
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/accounts/oidc/callback/" and "code=" in callback.query
    response = client.get(f"{callback.path}?{callback.query}")

    assert response["Location"] == "/deployments/?page=2"
    assert role_names(vic) == ["Editor"]
    assert client.session["_auth_user_id"] == str(vic.pk)
    assert client.session["oidc_id_token_expiration"] > time.time()
    change = AuditEvent.objects.filter(action=AuditEvent.Action.ROLES_CHANGED).latest("id")
    assert change.before == {"roles": ["Viewer"]}


def test_password_sessions_keep_the_strict_form_action(client, oidc_provider, viewer):
    client.force_login(viewer)
    assert form_action(client.get("/account/api-key/")) == "'self'"


def test_the_sign_in_page_offers_the_provider_only_when_it_is_configured(client, settings):
    settings.OIDC_RP_CLIENT_ID = ""
    assert b"Sign in with" not in client.get("/accounts/login/").content
    settings.OIDC_RP_CLIENT_ID = "console"
    settings.OIDC_ISSUER = "https://login.example.com"
    settings.OIDC_PROVIDER_NAME = "Okta"
    page = client.get("/accounts/login/?next=/audit/").content.decode()
    assert 'href="/accounts/oidc/start/?next=/audit/"' in page
    assert "Sign in with Okta" in page


def test_with_passwords_off_the_page_points_at_the_button(client, settings):
    settings.OIDC_RP_CLIENT_ID = "console"
    settings.OIDC_ISSUER = "https://login.example.com"
    settings.LOCAL_LOGIN_ENABLED = False
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with the button above" in page
    assert 'name="password"' not in page


# --- a misconfigured provider: plain words, no traceback, no 500 ---------------------------


@pytest.fixture
def misconfigured(settings):
    settings.OIDC_RP_CLIENT_ID = "console"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_PROVIDER_NAME = "Okta"
    settings.OIDC_TIMEOUT = 5
    cache.clear()
    return settings


def assert_plain(response, status: int, words: str) -> None:
    assert response.status_code == status
    page = response.content.decode()
    assert words in page, page
    assert "Traceback" not in page and "secret" not in page


def test_an_unreachable_provider(client, misconfigured):
    misconfigured.OIDC_ISSUER = "http://127.0.0.1:9"
    response = client.get("/accounts/oidc/start/")
    assert_plain(response, 503, "could not reach Okta at http://127.0.0.1:9")


def test_an_issuer_that_is_not_one(client, misconfigured, idp_server):
    misconfigured.OIDC_ISSUER = idp_server.url  # the provider's root, not its issuer
    assert_plain(client.get("/accounts/oidc/start/"), 503, "did not describe itself")


def test_an_issuer_that_names_another(client, misconfigured, idp_server):
    misconfigured.OIDC_ISSUER = f"{idp_server.issuer}/"  # a trailing slash is fine
    assert client.get("/accounts/oidc/start/").status_code == 302
    misconfigured.OIDC_ISSUER = "https://login.example.com"
    with responses.RequestsMock() as provider:
        document = {"issuer": "https://evil.example.com", "authorization_endpoint": "x"}
        provider.get("https://login.example.com/.well-known/openid-configuration", json=document)
        assert_plain(client.get("/accounts/oidc/start/"), 503, "calls itself")


def test_a_discovery_document_that_is_not_json(client, misconfigured):
    misconfigured.OIDC_ISSUER = "https://login.example.com"
    with responses.RequestsMock() as provider:
        provider.get("https://login.example.com/.well-known/openid-configuration", body="<html>")
        assert_plain(client.get("/accounts/oidc/start/"), 503, "did not describe itself")


def test_explicit_endpoints_without_the_keys(client, misconfigured):
    misconfigured.OIDC_ISSUER = ""
    misconfigured.OIDC_AUTHORIZATION_ENDPOINT = "https://login.example.com/authorize"
    misconfigured.OIDC_TOKEN_ENDPOINT = "https://login.example.com/token"
    misconfigured.OIDC_JWKS_URI = ""
    assert_plain(client.get("/accounts/oidc/start/"), 503, "CONSOLE_OIDC_JWKS_URI")
    misconfigured.OIDC_JWKS_URI = "https://login.example.com/keys"
    response = client.get("/accounts/oidc/start/")
    assert response["Location"].startswith("https://login.example.com/authorize?")


def test_a_wrong_client_secret(client, oidc_provider, settings):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    back = urlsplit(sign_in_at_provider(start(client), "vic@example.com"))
    response = client.get(f"{back.path}?{back.query}")
    assert_plain(response, 502, "Local IdP did not sign you in")
    assert "_auth_user_id" not in client.session


def test_the_provider_refuses(client, oidc_provider):
    query = parse_qs(urlsplit(start(client)).query)
    state = query["state"][0]
    response = client.get(f"/accounts/oidc/callback/?error=access_denied&state={state}")
    assert_plain(response, 403, "Local IdP did not let you into the console")


def test_a_callback_with_a_forged_state(client, oidc_provider):
    start(client)
    response = client.get("/accounts/oidc/callback/?code=abc&state=forged")
    assert_plain(response, 502, "did not sign you in")


def test_off_when_not_configured(client, settings):
    settings.OIDC_RP_CLIENT_ID = ""
    assert_plain(client.get("/accounts/oidc/start/"), 404, "not switched on")
    assert_plain(client.get("/accounts/oidc/callback/?code=a&state=b"), 404, "not switched on")


def test_only_tokens_made_for_the_console_are_accepted(settings):
    settings.OIDC_RP_CLIENT_ID = "console"
    assert oidc._audience_ok({"aud": "console"})
    assert oidc._audience_ok({"aud": ["other", "console"]})
    assert not oidc._audience_ok({"aud": "other"})
    assert not oidc._audience_ok({})
