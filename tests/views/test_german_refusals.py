"""Refusals and failures after an action, for a German reader: shown in German, while the audit
trail stores the console's own (English) words, worded again in the reader's language when
shown."""

from __future__ import annotations

import pytest
from django.utils import translation

from deployments_ui.models import AuditEvent
from tests.deployments import api_writes, deployment_url, find_deployment, toast_of

pytestmark = pytest.mark.django_db

GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    translation.deactivate()


@pytest.fixture
def operator_client(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def recorded(action: str, outcome: str) -> str:
    return AuditEvent.objects.get(action=action, outcome=outcome).message


def test_an_enable_refused_as_already_enabled_in_german(operator_client, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    answer = operator_client.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true", **GERMAN)
    message = toast_of(answer)["message"]
    assert message.startswith("Schon von ")
    assert item["enabledBy"]["name"] in message
    assert "Nichts wurde geändert." in message
    assert "Already" not in message
    assert api_writes(on_sandbox) == []
    stored = recorded("enable", "refused")
    assert stored.startswith(f"Already enabled by {item['enabledBy']['name']} on ")
    assert stored.endswith(". Nothing was changed.")


def test_an_enable_not_allowed_in_german(client, viewer, on_sandbox):
    client.force_login(viewer)
    item = find_deployment(on_sandbox, enabled=False)
    answer = client.post(deployment_url(item, "enable/"), **GERMAN)
    assert answer.status_code == 403
    page = answer.content.decode()
    assert "Ihre Rolle in der Konsole erlaubt das nicht." in page
    assert "does not allow" not in page
    assert recorded("enable", "refused") == "You do not have permission to enable deployments."


def test_a_deactivated_persons_change_is_refused_in_german(operator):
    from deployments_ui.accounts.access import still_may_act

    operator.is_active = False
    problem = still_may_act(operator, "enable", "you")
    with translation.override("de"):
        assert str(problem) == "Sie hat kein Konto in der Konsole mehr."
    with translation.override("en-gb"):
        assert str(problem) == "you no longer has a console account."


def test_a_change_failed_at_503_says_in_german_nothing_was_changed(operator_client, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    on_sandbox.set_faults(methods=["POST"], error_status=503)
    answer = operator_client.post(
        deployment_url(item, "disable/"), HTTP_HX_REQUEST="true", **GERMAN
    )
    assert answer.status_code == 502
    message = toast_of(answer)["message"]
    assert "Patchworks antwortet gerade nicht richtig (Fehler 503)" in message
    assert message.endswith("Nichts wurde geändert.")
    assert "Nothing" not in message and "Try again" not in message
    assert recorded("disable", "failed") == (
        "Patchworks is not answering properly right now (error 503). Try again in a minute."
    )


def test_the_list_with_patchworks_busy_in_german(operator_client, on_sandbox, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    on_sandbox.set_faults(retry_after=7)
    answer = operator_client.get("/deployments/", **GERMAN)
    assert answer.status_code == 429
    page = answer.content.decode()
    assert "Patchworks ist ausgelastet — versuchen Sie es in 7 Sekunden noch einmal." in page
    assert "try again" not in page


def test_the_audit_trail_stores_english_and_shows_german(operator_client, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    operator_client.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true", **GERMAN)
    on_sandbox.set_faults(methods=["POST"], error_status=503)
    operator_client.post(deployment_url(item, "disable/"), HTTP_HX_REQUEST="true", **GERMAN)
    messages = list(AuditEvent.objects.exclude(message="").values_list("message", flat=True))
    assert messages and all("Nichts" not in m and "Patchworks antwortet" not in m for m in messages)
    log = operator_client.get("/audit/", **GERMAN).content.decode()
    # Stored words the catalogue does not know word for word are quoted as written.
    assert "„Patchworks is not answering properly right now (error 503)" in log


def test_a_saved_view_refused_in_german(client, viewer):
    from django.contrib.messages import get_messages

    client.force_login(viewer)
    answer = client.post("/saved-views/", {"name": "", "page": "audit", "query": ""}, **GERMAN)
    said = [str(message) for message in get_messages(answer.wsgi_request)]
    assert any("Geben Sie der Ansicht einen Namen." in message for message in said), said


def test_a_freeze_windows_times_are_worded_for_the_reader_and_recorded_in_english(admin_user):
    from datetime import UTC, datetime

    from deployments_ui.audit import Actor
    from deployments_ui.changes.models import FreezeWindow
    from deployments_ui.changes.rules import save_window

    window = FreezeWindow(
        kind=FreezeWindow.Kind.ONCE,
        starts_at=datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 8, 9, 5, tzinfo=UTC),
        time_zone="Europe/London",
        scope="all",
    )
    with translation.override("de"):
        save_window(actor=Actor(user=admin_user, name="Ann Admin"), user=admin_user, window=window)
        assert window.when_text == (
            "Mo, 7. Dez 2026 14:00 bis Di, 8. Dez 2026 09:05 (Europe/London)"
        )
    english = "Mon 07 Dec 2026 14:00 to Tue 08 Dec 2026 09:05 (Europe/London)"
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONTROL_SETTINGS)
    assert event.message.startswith(f"Added a freeze window {english} for ")
    assert event.after["When"] == english


def test_a_scheduled_changes_lateness_is_worded_for_the_reader():
    from deployments_ui.schedules.models import ScheduledChange

    change = ScheduledChange(
        action="enable",
        status=ScheduledChange.Status.APPLIED,
        result_message="Enabled 3 s late (no worker was running at its time).",
        lateness_seconds=3.2,
    )
    with translation.override("de"):
        assert change.result_shown == "Aktiviert, 3 s zu spät (zu ihrer Zeit lief kein Zeitplaner)."
    with translation.override("en-gb"):
        assert change.result_shown == change.result_message


def test_words_are_text_in_the_readers_language_and_recorded_in_the_consoles():
    import json
    import pickle

    from django.utils.translation import gettext

    from deployments_ui.core.words import later, recorded

    with translation.override("de"):
        inner = later(lambda: gettext("Nothing was sent."))
        outer = later(lambda: gettext("%(message)s Nothing was changed.") % {"message": inner})
        assert isinstance(outer, str)
        assert json.dumps({"m": outer}) == json.dumps(
            {"m": "Nichts wurde gesendet. Nichts wurde geändert."}
        )
        assert recorded(outer) == "Nothing was sent. Nothing was changed."
        assert type(pickle.loads(pickle.dumps(outer))) is str
