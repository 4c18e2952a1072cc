"""The console in German: a German reader's pages have no English left in them.

A page is rendered in English and in German; any piece of text that reads the same in both is
untranslated, unless it is data (a flow's, environment's, package's or person's name, from
Patchworks) or a word the German catalogue keeps on purpose (msgstr equal to its msgid)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.utils import translation

from deployments_ui.management.commands.compile_translations import parse_po

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A German request leaves German active in the thread: later tests expect English."""
    yield
    translation.deactivate()


EXACT_TIME = re.compile(r"^\d\d? \w+ \d{4}, \d\d:\d\d \w+$")
CATALOGUE = Path(__file__).resolve().parents[2] / "locale" / "de" / "LC_MESSAGES" / "django.po"


def kept_words() -> set[str]:
    return {msgid for msgid, msgstr in parse_po(CATALOGUE.read_text()).items() if msgid == msgstr}


def segments(page: str) -> list[str]:
    """The pieces of text a person reads or hears, one per text node or label."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?is)<(select|textarea)\b.*?</\1>", " ", page)  # choices: checked below
    labels = re.findall(r'(?:aria-label|title|placeholder|alt|data-label)="([^"]*)"', page)
    texts = re.split(r"<[^>]+>", page)
    return [" ".join(text.split()) for text in [*texts, *labels] if text.strip()]


def untranslated(english: str, german: str, allowed: set[str]) -> list[str]:
    english_pieces = set(segments(english))
    left = []
    for piece in segments(german):
        words = piece
        for name in sorted(allowed, key=len, reverse=True):
            words = words.replace(name, " ")
        if EXACT_TIME.match(piece):  # '01 Feb 2025, 08:00 GMT': month names checked elsewhere
            continue
        if re.search(r"[A-Za-z]{3,}", words) and piece in english_pieces:
            left.append(piece)
    return sorted(set(left))


@pytest.fixture
def reader(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def test_the_catalogue_is_complete():
    text = CATALOGUE.read_text()
    assert "#, fuzzy" not in text
    empty = [msgid for msgid, msgstr in parse_po(text).items() if msgid and not msgstr]
    assert not empty


def test_the_browser_language_chooses_german(reader):
    page = reader.get("/deployments/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de">' in page
    assert "Abmelden" in page


def test_the_scripts_words_come_in_the_readers_language(reader):
    import json

    page = reader.get("/deployments/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    found = re.search(r'<script[^>]* id="console-words"[^>]*>(.*?)</script>', page)
    assert found, "the page has no catalogue for console.js"
    words = json.loads(found.group(1))
    assert words["yes_disable"] == "Ja, deaktivieren"
    assert words["active"] == "(%(count)s aktiv)"
    script = (CATALOGUE.parents[3] / "static" / "console.js").read_text()
    for english in ("Yes, disable it", "Reason (optional)", "Close this message"):
        assert english not in script, f"console.js still has its own English: {english}"


def test_the_menu_switch_keeps_the_choice(reader):
    response = reader.post("/language/", {"language": "de", "next": "/deployments/"})
    assert response.status_code == 302 and response["Location"] == "/deployments/"
    assert "Abmelden" in reader.get("/deployments/").content.decode()


def both_languages(client, url: str) -> tuple[str, str]:
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en-gb").content.decode()
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    return english, german


def test_the_check_finds_english_left_in_a_german_page():
    english = "<p>Sign in</p><p>Orders → Shopify</p><p>Keep this</p>"
    german = "<p>Anmelden</p><p>Orders → Shopify</p><p>Keep this</p>"
    assert untranslated(english, german, {"Orders → Shopify"}) == ["Keep this"]


def test_the_sign_in_page_in_german_has_no_english_left(client):
    english, german = both_languages(client, "/accounts/login/")
    left = untranslated(english, german, kept_words())
    assert not left, "the sign-in page in German still shows:\n" + "\n".join(left)


def test_the_api_key_page_in_german_has_no_english_left(reader, operator):
    english, german = both_languages(reader, "/account/api-key/")
    assert "Ihr gespeicherter Schlüssel" in german
    from deployments_ui.accounts.models import ApiCredential

    last_four = ApiCredential.objects.get(user=operator).last_four
    # A command's name is the same in every language.
    same = {operator.get_full_name(), last_four, "console-cli"}
    left = untranslated(english, german, kept_words() | same)
    assert not left, "My API key in German still shows:\n" + "\n".join(left)


def test_times_read_in_the_readers_language():
    from datetime import UTC, datetime, timedelta

    from deployments_ui.formats import when

    now = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    clock = (now, UTC)
    with translation.override("de"):
        assert ">vor 2 Tagen, 3 Stunden</time>" in when(
            now - timedelta(days=2, hours=3), clock=clock
        )
        assert ">in 5 Minuten</time>" in when(now + timedelta(minutes=5), clock=clock)
        assert 'title="7. Dezember 2026, 09:30 UTC"' in when(now, clock=clock)
    with translation.override("en-gb"):
        assert ">1 day ago</time>" in when(now - timedelta(days=1), clock=clock)
        assert 'title="07 Dec 2026, 09:30 UTC"' in when(now, clock=clock)


def test_a_row_speaks_german():
    from deployments_ui.presenters import deployment_row
    from deployments_ui.rows import render_rows
    from tests.factories import deployment

    row = deployment_row(deployment())
    with translation.override("de"):
        german_row = deployment_row(deployment())
        german = render_rows(
            [german_row], can_toggle=True, csrf_token="t", next_url="/", bulk_choosable=True
        )
    english = render_rows([row], can_toggle=True, csrf_token="t", next_url="/", bulk_choosable=True)
    assert "Deaktivieren" in german and 'data-label="Paket"' in german and "auswählen" in german
    names = {row[key] for key in ("label", "flow_name", "environment_name", "package_name")}
    names.add(row["enabled_by"])
    left = untranslated(str(english), str(german), kept_words() | names)
    assert not left, left


def test_the_compiled_catalogue_reads_back_as_written(tmp_path):
    import gettext

    from deployments_ui.management.commands.compile_translations import mo_bytes

    po = """msgid ""
msgstr "Content-Type: text/plain; charset=UTF-8\\nPlural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Sign out"
msgstr "Abmelden"

#, python-format
msgid "%(count)d day"
msgid_plural "%(count)d days"
msgstr[0] "%(count)d Tag"
msgstr[1] "%(count)d "
"Tagen"

#, fuzzy
msgid "Draft"
msgstr "Entwurf"
"""
    path = tmp_path / "django.mo"
    path.write_bytes(mo_bytes(parse_po(po)))
    catalogue = gettext.GNUTranslations(path.open("rb"))
    assert catalogue.gettext("Sign out") == "Abmelden"
    assert catalogue.ngettext("%(count)d day", "%(count)d days", 3) == "%(count)d Tagen"
    assert catalogue.ngettext("%(count)d day", "%(count)d days", 1) == "%(count)d Tag"
    assert catalogue.gettext("Draft") == "Draft"  # fuzzy: left out


def sandbox_names(sandbox) -> set[str]:
    """Every name Patchworks holds (flows, versions, environments, packages, people)."""
    from tests.deployments import sandbox_deployments

    names: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, str) and key.endswith(("name", "email")):
                    names.add(inner)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(sandbox_deployments(sandbox))
    return {name for name in names if name}


def shown_names(page: str) -> set[str]:
    """Data on a page (flows, environments, packages, people, saved views), never translated:
    the row's named cells, option texts of a filter, a deployment's name."""
    names = set(re.findall(r'data-name="([^"]*)"', page))
    names |= set(re.findall(r'<td data-label="[^"]*"(?: class="[^"]*")?>([^<]+)<', page))
    names |= {" ".join(text.split()) for text in re.findall(r"<option[^>]*>([^<]*)</option>", page)}
    # A deployment's name ('Orders → Shopify version 3 in UK Live') is built in one wording
    # (DeploymentRef.label), also for what is stored: named on a row's own button.
    names |= set(re.findall(r'<span class="visually-hidden"> ([^<]+)</span>…', page))
    names |= set(re.findall(r'href="/flow-versions/\d+/deployments/\d+/">([^<]+)</a>', page))
    return {html.unescape(name) for name in names if name.strip()}


def page_left_english(client, url: str, extra: set[str] = frozenset()) -> list[str]:
    english, german = both_languages(client, url)
    from django.conf import settings

    allowed = kept_words() | shown_names(english) | set(extra) | {settings.TIME_ZONE}
    return untranslated(html.unescape(english), html.unescape(german), allowed)


@pytest.fixture(params=["operator", "admin_user"])
def german_reader(request, client, on_sandbox):
    person = request.getfixturevalue(request.param)
    client.force_login(person)
    return client, person, on_sandbox


def test_the_deployments_list_in_german_has_no_english_left(german_reader):
    client, person, sandbox = german_reader
    names = {person.get_full_name()} | sandbox_names(sandbox)
    left = page_left_english(client, "/deployments/", names)
    assert not left, "the deployments list in German still shows:\n" + "\n".join(left)


def test_a_deployment_page_in_german_has_no_english_left(german_reader):
    client, person, sandbox = german_reader
    # A deployment whose flow is failing: its page shows the latest runs and the failing step.
    listing = client.get("/deployments/?per_page=100").content.decode()
    failing = re.search(
        r'href="(/flow-versions/\d+/deployments/\d+/)"[^<]*</a>(?:(?!</tr>).)*health-failing',
        listing,
        re.S,
    )
    assert failing, "the sandbox has a failing deployment on the first page"
    url = failing.group(1)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<table" in page
    # What Patchworks' own log said when the flow's last run failed is its words, not ours.
    said = re.findall(r'<q class="failure-message">([^<]*)</q>', page)
    names = {person.get_full_name(), *map(html.unescape, said)} | sandbox_names(sandbox)
    left = page_left_english(client, url, names)
    assert not left, "a deployment's page in German still shows:\n" + "\n".join(left)


def test_the_schedule_pages_in_german_have_no_english_left(german_reader):
    from tests.deployments import deployment_url, find_deployment

    client, person, sandbox = german_reader
    item = find_deployment(sandbox, enabled=True, live=False)
    names = {person.get_full_name()} | sandbox_names(sandbox)
    response = client.post(
        deployment_url(item, "schedule/"),
        {"action": "disable", "at": "2099-01-01T10:00", "reason": "Wartung", "time_zone": "UTC"},
    )
    assert response.status_code == 302
    for url in (deployment_url(item, "schedule/"), "/schedules/"):
        left = page_left_english(client, url, names | {"Wartung"})
        assert not left, f"{url} in German still shows:\n" + "\n".join(left)


def test_the_change_request_pages_in_german_have_no_english_left(german_reader, operator):
    from deployments_ui.changes.models import ChangeRequest
    from tests.changes.helpers import protect
    from tests.deployments import deployment_url, find_deployment

    client, person, sandbox = german_reader
    protect("live")
    item = find_deployment(sandbox, enabled=True, live=True)
    client.force_login(operator)
    asked = client.post(deployment_url(item, "disable/"), {"reason": "Wartung", "confirmed": "1"})
    assert asked.status_code == 302
    client.force_login(person)
    change = ChangeRequest.objects.get()
    # The request's summary is stored in English; the pages word it again for the reader.
    names = {person.get_full_name(), operator.get_full_name(), "Wartung"}
    names |= sandbox_names(sandbox)
    for url in ("/changes/", f"/changes/{change.pk}/"):
        left = page_left_english(client, url, names)
        assert not left, f"{url} in German still shows:\n" + "\n".join(left)


def test_the_error_pages_in_german_have_no_english_left(german_reader):
    from django.template.loader import render_to_string

    client, person, _ = german_reader
    left = page_left_english(client, "/no-such-page/", {person.get_full_name()})
    assert not left, "the missing page in German still shows:\n" + "\n".join(left)
    for name, context in [
        ("403.html", {}),
        ("500.html", {}),
        ("503.html", {"request_id": "abc123"}),
        ("503.html", {"write_sent": True}),
        ("deployments_ui/upstream_error.html", {"error": {"http_status": 503, "message": ""}}),
    ]:
        pages = []
        for language in ("en-gb", "de"):
            with translation.override(language):
                pages.append(render_to_string(name, context))
        left = untranslated(*pages, kept_words() | {"abc123"})
        assert not left, f"{name} in German still shows:\n" + "\n".join(left)
        assert 'lang="de"' in pages[1]


def test_the_message_after_a_change_is_german(german_reader):
    from tests.deployments import deployment_url, find_deployment

    client, _, sandbox = german_reader
    item = find_deployment(sandbox, enabled=True, live=False)
    answer = client.post(
        deployment_url(item, "disable/"),
        {"reason": "Wartung", "next": "/deployments/"},
        HTTP_ACCEPT_LANGUAGE="de",
        follow=True,
    )
    page = answer.content.decode()
    assert "ist jetzt deaktiviert — es läuft nicht." in page
    assert "is now disabled" not in page


def test_the_audit_pages_in_german_have_no_english_left(german_reader):
    from deployments_ui.audit.models import AuditEvent
    from tests.deployments import deployment_url, find_deployment

    client, person, sandbox = german_reader
    item = find_deployment(sandbox, enabled=True, live=False)
    assert client.post(deployment_url(item, "disable/"), {"reason": "Wartung"}).status_code == 302
    event = AuditEvent.objects.filter(action="disable").order_by("pk").first()
    assert event is not None
    names = {person.get_full_name(), person.get_username(), "Wartung", "127.0.0.1"}
    names |= sandbox_names(sandbox) | {event.request_id}
    names |= {recorded.hash for recorded in AuditEvent.objects.all()}
    for url in ("/audit/", f"/audit/{event.pk}/"):
        left = page_left_english(client, url, names)
        assert not left, f"{url} in German still shows:\n" + "\n".join(left)


def test_the_notification_settings_in_german_have_no_english_left(german_reader):
    client, person, sandbox = german_reader
    names = {person.get_full_name(), person.email} | sandbox_names(sandbox)
    left = page_left_english(client, "/settings/notifications/", names)
    assert not left, "Notifications in German still shows:\n" + "\n".join(left)
