"""The console in German, page by page: the bulk job page, webhooks, people, the Scheduler page,
API tokens, the change calendar, and the audit trail's sentences (the log, an event's page, a
deployment's history) with events of several kinds. A German reader's page has no English left:
only data (names, what someone typed, what Patchworks or a stored record said, shown quoted)."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from tests.views.test_german import page_left_english, sandbox_names

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    translation.deactivate()


def people_names() -> set[str]:
    """Every account's name, username and email, and the role groups' names (data)."""
    from django.contrib.auth.models import Group

    names: set[str] = set(Group.objects.values_list("name", flat=True))
    for person in get_user_model().objects.all():
        names |= {person.get_full_name(), person.get_username(), f"({person.get_username()})"}
        names.add(person.email)
    return {name for name in names if name}


def quoted(page: str) -> set[str]:
    """What a page quotes as it was written (Patchworks' words, a stored message), and code
    (a command, a setting's name), the same in every language."""
    said = re.findall(r'<q class="failure-message">([^<]*)</q>', page)
    code = re.findall(r"<code>([^<]*)</code>", page)
    return {html.unescape(text) for text in [*said, *code]}


def assert_german(client, url: str, names: set[str]) -> str:
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de")
    assert german.status_code == 200, url
    page = german.content.decode()
    left = page_left_english(client, url, names | quoted(page) | people_names())
    assert not left, f"{url} in German still shows:\n" + "\n".join(left)
    return page


@pytest.fixture
def admin_client(client, admin_user, on_sandbox):
    client.force_login(admin_user)
    return client, on_sandbox


def test_a_bulk_job_page_in_german_has_no_english_left(admin_client):
    from deployments_ui.bulk.models import BulkJob
    from tests.bulk.test_bulk import pick, post

    client, sandbox = admin_client
    chosen = pick(sandbox, enabled=True, count=2, live=False)
    chosen += pick(sandbox, enabled=False, count=1, live=False)
    assert post(client, chosen, confirmed="1").status_code == 303
    job = BulkJob.objects.get()
    names = sandbox_names(sandbox) | {"supplier maintenance"}
    preview_in_german(client, chosen, names)
    page = assert_german(client, f"/jobs/{job.pk}/", names)
    assert "Fertig" in page and "übersprungen" in page
    assert_german(client, "/jobs/", names)


def preview_in_german(client, chosen, names: set[str]) -> None:
    """The preview before a bulk job (a POST, so read in both languages here)."""
    from tests.bulk.test_bulk import ids
    from tests.views.test_german import kept_words, shown_names, untranslated

    pages = []
    for language in ("en-gb", "de"):
        answer = client.post(
            "/deployments/bulk/",
            {"action": "enable", "deployment": ids(chosen)},
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert answer.status_code == 200
        pages.append(html.unescape(answer.content.decode()))
    allowed = kept_words() | shown_names(pages[0]) | names | people_names() | quoted(pages[1])
    left = untranslated(*pages, allowed)
    assert not left, "the bulk preview in German still shows:\n" + "\n".join(left)
    assert "Mehrere Deployments aktivieren" in pages[1]


def test_the_webhook_pages_in_german_have_no_english_left(admin_client):
    from deployments_ui.notifications.models import Webhook

    client, sandbox = admin_client
    answer = client.post(
        "/settings/webhooks/new/",
        {
            "name": "Ops channel",
            "url": "https://hooks.slack.example.com/services/T000/B000/XXX",
            "format": "slack",
            "is_active": "on",
            "environment_types": ["live"],
        },
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert answer.status_code == 200
    assert "Webhook „Ops channel“ hinzugefügt" in answer.content.decode()
    webhook = Webhook.objects.get()
    names = {"Ops channel", webhook.shown_url, "Slack", "JSON"} | sandbox_names(sandbox)
    for url in (
        "/settings/webhooks/",
        "/settings/webhooks/new/",
        f"/settings/webhooks/{webhook.pk}/",
        f"/settings/webhooks/{webhook.pk}/edit/",
    ):
        assert_german(client, url, names)


def test_the_people_pages_in_german_have_no_english_left(admin_client, operator):
    client, sandbox = admin_client
    given = client.post(
        f"/settings/people/{operator.pk}/roles/", {"give": "1", "role": "Viewer", "place": "live"}
    )
    assert given.status_code == 302
    page = assert_german(client, "/settings/people/", sandbox_names(sandbox))
    assert "Viewer in Live-Umgebungen" in page
    assert_german(client, f"/settings/people/{operator.pk}/roles/", sandbox_names(sandbox))


def test_the_scheduler_page_in_german_has_no_english_left(admin_client):
    client, _ = admin_client
    page = assert_german(client, "/settings/worker/", set())
    assert "Zeitplaner" in page


def test_the_token_pages_in_german_have_no_english_left(admin_client, operator):
    from deployments_ui.tokens.models import ApiToken
    from tests.tokens.test_token_pages import expiry

    client, _ = admin_client
    client.force_login(operator)
    made = client.post(
        "/account/tokens/",
        {"name": "nightly maintenance", "expires_on": expiry(), "scope": "test_only"},
        HTTP_ACCEPT_LANGUAGE="de",
    ).content.decode()
    assert "Ihr neues Token „nightly maintenance“" in made
    token = ApiToken.objects.get()
    names = {"nightly maintenance", f"{token.prefix}…", "console-cli"}
    assert_german(client, "/account/tokens/", names)
    assert_german(client, f"/account/tokens/{token.pk}/revoke/", names)
    client.force_login(get_user_model().objects.get(username="adam"))
    assert_german(client, "/settings/tokens/", names)


def test_the_calendar_in_german_has_no_english_left(admin_client):
    from tests.deployments import deployment_url, find_deployment

    client, sandbox = admin_client
    item = find_deployment(sandbox, enabled=True, live=False)
    assert client.post(deployment_url(item, "disable/"), {"reason": "Wartung"}).status_code == 302
    scheduled = find_deployment(sandbox, enabled=False, live=False)
    response = client.post(
        deployment_url(scheduled, "schedule/"),
        {"action": "enable", "at": "2099-01-01T10:00", "reason": "Wartung", "time_zone": "UTC"},
    )
    assert response.status_code == 302
    names = sandbox_names(sandbox) | {"Wartung", "UTC"} | same_month_names()
    for view in ("week", "day", "month"):
        page = assert_german(client, f"/calendar/?view={view}", names)
        assert "Kalender" in page
    page = assert_german(client, "/calendar/?view=day&date=2099-01-01", names)
    assert "beantragt von" in page


def same_month_names() -> set[str]:
    """Month abbreviations German writes as English does ('Jan', 'Nov')."""
    from django.utils.dates import MONTHS_3

    english = {str(month).capitalize() for month in MONTHS_3.values()}
    with translation.override("de"):
        return english & {str(month).capitalize() for month in MONTHS_3.values()}


def events_of_several_kinds(client, sandbox, operator) -> None:
    """A disable, an enable, a refused change, a settings change, a token, a scheduled change
    and a change request with its approval: the trail's sentences of many kinds."""
    from tests.changes.helpers import protect
    from tests.deployments import deployment_url, find_deployment

    test_item = find_deployment(sandbox, enabled=True, live=False)
    assert (
        client.post(deployment_url(test_item, "disable/"), {"reason": "Wartung"}).status_code == 302
    )
    assert (
        client.post(deployment_url(test_item, "enable/"), {"reason": "Wartung"}).status_code == 302
    )
    live_item = find_deployment(sandbox, enabled=True, live=True)
    client.post(deployment_url(live_item, "disable/"), {"reason": ""})  # refused: no reason
    client.post(
        "/settings/webhooks/new/",
        {"name": "Ops channel", "url": "https://hooks.slack.example.com/x", "format": "slack"},
    )
    client.post(
        deployment_url(test_item, "schedule/"),
        {"action": "disable", "at": "2099-01-01T10:00", "reason": "Wartung", "time_zone": "UTC"},
    )
    protect("live")
    admin = get_user_model().objects.get(username="adam")
    client.force_login(operator)
    client.post(deployment_url(live_item, "disable/"), {"reason": "Wartung", "confirmed": "1"})
    client.force_login(admin)


def test_the_audit_trail_speaks_german(admin_client, operator):
    from deployments_ui.audit.models import AuditEvent
    from deployments_ui.changes.models import ChangeRequest
    from deployments_ui.notifications.models import Webhook
    from tests.deployments import deployment_url, find_deployment

    client, sandbox = admin_client
    events_of_several_kinds(client, sandbox, operator)
    change = ChangeRequest.objects.get()
    client.post(f"/changes/{change.pk}/approve/", {"revision": change.revision})
    names = sandbox_names(sandbox) | {"Wartung", "Ops channel", "127.0.0.1"}
    names |= {webhook.shown_url for webhook in Webhook.objects.all()}
    names |= {event.request_id for event in AuditEvent.objects.all()}
    names |= {recorded.hash for recorded in AuditEvent.objects.all()}
    page = assert_german(client, "/audit/", names)
    for german in ("hat", "deaktiviert", "Grund: Wartung", "den Webhook „Ops channel“"):
        assert german in page, german
    for event in AuditEvent.objects.filter(completes__isnull=True):
        assert_german(client, f"/audit/{event.pk}/", names)
    for url in ("/changes/", f"/changes/{change.pk}/"):
        assert_german(client, url, names)
    item = find_deployment(sandbox, enabled=True, live=False)
    page = assert_german(client, deployment_url(item), names)
    assert "hat" in page


def test_stored_sentences_stay_in_the_consoles_own_language(admin_client, operator):
    """A notification is worded in English whoever's request made it; the change request keeps
    its English summary, and its page words it again for a German reader."""
    from deployments_ui.audit.models import AuditEvent
    from deployments_ui.changes.models import ChangeRequest
    from deployments_ui.notifications import events
    from tests.changes.helpers import protect
    from tests.deployments import deployment_url, find_deployment

    client, sandbox = admin_client
    protect("live")
    item = find_deployment(sandbox, enabled=True, live=True)
    client.force_login(operator)
    asked = client.post(
        deployment_url(item, "disable/"),
        {"reason": "Wartung", "confirmed": "1"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert asked.status_code == 302
    change = ChangeRequest.objects.get()
    assert change.summary.startswith("Disable ")
    event = AuditEvent.objects.get(action="request")
    with translation.override("de"):
        assert events.sentence(event).startswith("Oscar Operator asked for approval to disable")
    page = client.get(f"/changes/{change.pk}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert " deaktivieren</h1>" in page


def test_dates_read_in_the_readers_order(admin_client):
    """'7. Dezember 2026, 14:02' in German, '7 Dec 2026, 14:02' in English."""
    from datetime import UTC, datetime

    from django.template import Context, Template

    moment = datetime(2026, 12, 7, 14, 2, tzinfo=UTC)
    template = Template('{{ moment|date:_("j M Y, H:i") }}')
    with translation.override("de"):
        assert template.render(Context({"moment": moment})) == "7. Dezember 2026, 14:02"
    with translation.override("en-gb"):
        assert template.render(Context({"moment": moment})) == "7 Dec 2026, 14:02"


def test_a_refusal_is_shown_in_german_and_recorded_in_english(admin_client):
    from deployments_ui.audit.models import AuditEvent
    from tests.deployments import deployment_url, find_deployment

    client, sandbox = admin_client
    item = find_deployment(sandbox, enabled=True, live=True)
    answer = client.post(
        deployment_url(item, "disable/"),
        {"reason": "", "confirmed": "1"},
        HTTP_ACCEPT_LANGUAGE="de",
        HTTP_HX_REQUEST="true",
    )
    assert "Grund" in answer.headers.get("X-Console-Refusal", "") + answer.content.decode()
    refused = AuditEvent.objects.get(outcome="refused")
    assert refused.message == "Please say why: changes in live environments need a reason."
    log = client.get("/audit/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "abgelehnt: bitte sagen Sie, warum" in log


def test_a_freeze_and_the_confirmation_read_in_german(admin_client):
    from tests.changes.helpers import freeze_now
    from tests.deployments import deployment_url, find_deployment
    from tests.views.test_german import kept_words, shown_names, untranslated

    client, sandbox = admin_client
    freeze_now("all", description="Release")
    item = find_deployment(sandbox, enabled=True, live=False)
    names = sandbox_names(sandbox) | {"Release", "UTC", "Europe/London"}
    page = assert_german(client, deployment_url(item), names)
    assert "Sperrzeit in Kraft" in page
    pages = []
    for language in ("en-gb", "de"):
        answer = client.post(deployment_url(item, "disable/"), {}, HTTP_ACCEPT_LANGUAGE=language)
        pages.append(html.unescape(answer.content.decode()))
    allowed = kept_words() | shown_names(pages[0]) | names | people_names() | quoted(pages[1])
    left = untranslated(*pages, allowed)
    assert not left, "the confirmation in German still shows:\n" + "\n".join(left)


def test_the_settings_pages_in_german_have_no_english_left(admin_client):
    from tests.changes.helpers import freeze_now, protect
    from tests.deployments import deployment_url, find_deployment

    client, sandbox = admin_client
    protect("live")
    freeze_now("live", description="Release")
    item = find_deployment(sandbox, enabled=True, live=False)
    names = sandbox_names(sandbox) | {"Release", "UTC", "Europe/London"}
    for url in (
        "/settings/change-control/",
        "/settings/freeze-windows/",
        "/settings/service-key/",
        deployment_url(item, "delete/"),
        deployment_url(item, "edit/"),
        f"/flow-versions/{item['flow_version_id']}/deployments/",
        f"/flow-versions/{item['flow_version_id']}/deployments/new/",
    ):
        assert_german(client, url, names)
