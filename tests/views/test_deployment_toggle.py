"""Enable and disable: one write, the swapped fragment, the audit trail, and every failure."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deployments_ui.models import AuditEvent
from deployments_ui.presenters import last_changes
from tests.deployments import (
    api_writes,
    deployment_url,
    find_deployment,
    read_back,
    toast_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, operator, on_sandbox):
    client.force_login(operator)
    return client


def outcomes(action: str) -> list[str]:
    return list(
        AuditEvent.objects.filter(action=action).order_by("id").values_list("outcome", flat=True)
    )


def test_it_enables_with_one_write_and_redirects_without_htmx(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(
        deployment_url(item, "enable/"), {"reason": "go live", "next": "/deployments/?page=2"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/deployments/?page=2"
    after = read_back(on_sandbox, item)
    assert after["enabled_at"]
    assert after["enabledBy"]["name"] == "Oscar Operator"
    writes = api_writes(on_sandbox)
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in writes] == [("POST", "enable")]
    assert outcomes("enable") == ["pending", "succeeded"]
    assert AuditEvent.objects.filter(reason="go live").exists()


# Asking first: the row's button posts `ask`; the dialog (or the page below) adds `confirmed`


@pytest.mark.parametrize("live", [True, False])
def test_without_javascript_the_button_asks_on_a_page_before_writing(signed_in, on_sandbox, live):
    item = find_deployment(on_sandbox, enabled=True, live=live)
    url = deployment_url(item, "disable/")
    on_sandbox.clear_requests()

    response = signed_in.post(url, {"ask": "1", "confirmed": "", "next": "/deployments/?page=2"})

    assert response.status_code == 200
    html = response.content.decode()
    environment = item["virtualEnvironment"]["name"]
    assert "<h1>Disable this deployment?</h1>" in html
    assert f"Disable {item['name']}" in html and f"in {environment}? It will stop running" in html
    assert ("This is a live environment." in html) is live
    assert ("real data will stop flowing" in html) is live
    assert f'<form method="post" action="{url}"' in html
    assert '<input type="hidden" name="next" value="/deployments/?page=2">' in html
    assert 'name="reason"' in html and 'name="ask"' not in html
    assert '<a href="/deployments/?page=2">No, go back</a>' in html
    assert api_writes(on_sandbox) == []
    assert not AuditEvent.objects.exists()


def test_once_confirmed_the_same_post_writes(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(
        deployment_url(item, "enable/"),
        {"ask": "1", "confirmed": "1", "reason": "from the dialog", "fragment": "row"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert [w["method"] for w in api_writes(on_sandbox)] == ["POST"]
    assert AuditEvent.objects.filter(reason="from the dialog", outcome="succeeded").exists()


def test_asking_about_a_deployment_that_is_gone_says_so(signed_in, on_sandbox):
    response = signed_in.post("/flow-versions/100/deployments/999999/enable/", {"ask": "1"})
    assert response.status_code == 404
    assert "no longer exists" in response.content.decode()


def test_the_rows_carry_their_question_and_the_page_one_dialog(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True, live=True)
    html = signed_in.get(f"/deployments/?environment={item['virtual_environment_id']}").content
    html = html.decode()
    assert html.count('<dialog id="confirm-toggle"') == 1
    assert 'data-action="disable"' in html and "data-live" in html
    assert f'data-question="Disable {item["name"]}' in html
    assert html.count('name="ask" value="1"') == html.count('<tr id="deployment-row-')


def test_viewers_get_neither_buttons_nor_the_dialog(client, viewer, on_sandbox):
    client.force_login(viewer)
    html = client.get("/deployments/").content.decode()
    assert "confirm-toggle" not in html and 'name="ask"' not in html


def test_htmx_gets_the_row_and_a_toast(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = signed_in.post(
        deployment_url(item, "disable/"), {"fragment": "row"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<tr id="deployment-row-{item["id"]}" class="row-changed"')
    assert "Disabled" in html
    # The message goes in a toast, not into a cell, so the table's columns keep their widths.
    assert "is now disabled" not in html
    toast = toast_of(response)
    assert toast["level"] == "success"
    assert "is now disabled" in toast["message"]
    assert len(response.content) < 4096


def test_the_row_swapped_in_names_this_change_as_its_last_as_the_list_does(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = signed_in.post(
        deployment_url(item, "disable/"),
        {"fragment": "row", "reason": "supplier outage"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    listed = last_changes([str(item["id"])])[str(item["id"])]
    attempt = AuditEvent.objects.get(action="disable", outcome="pending")
    assert listed["url"] == reverse("audit-event", args=(attempt.pk,))
    shown = f'<a href="{listed["url"]}">{listed["text"]}</a> {listed["when"]}: supplier outage'
    assert shown in html


def test_htmx_from_the_detail_page_gets_the_panel(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(
        deployment_url(item, "enable/"), {"fragment": "panel"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.startswith(f'<section id="deployment-panel-{item["id"]}"')
    assert "Enabled — runs on its schedule" in html


def test_already_in_that_state_makes_no_call_and_says_who(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=True)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    toast = toast_of(response)
    assert toast["level"] == "warning"
    assert "Already enabled by" in toast["message"]
    assert item["enabledBy"]["name"] in toast["message"]
    assert api_writes(on_sandbox) == []
    assert outcomes("enable") == ["refused"]


def test_it_rejects_get(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    assert signed_in.get(deployment_url(item, "enable/")).status_code == 405
    assert signed_in.get(deployment_url(item, "disable/")).status_code == 405


def test_a_viewer_may_not_toggle(client, viewer, on_sandbox):
    client.force_login(viewer)
    item = find_deployment(on_sandbox, enabled=False)
    response = client.post(deployment_url(item, "enable/"))
    assert response.status_code == 403
    assert api_writes(on_sandbox) == []
    assert outcomes("enable") == ["refused"]


def test_a_required_reason_is_asked_for(signed_in, on_sandbox, settings):
    settings.CONSOLE_REQUIRE_REASON = True
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Please give a reason" in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_a_required_reason_is_required_in_the_dialog_and_on_the_ask_page(
    signed_in, on_sandbox, settings
):
    settings.CONSOLE_REQUIRE_REASON = True
    item = find_deployment(on_sandbox, enabled=False)
    dialog = signed_in.get(deployment_url(item)).content.decode()
    assert '<label for="confirm-toggle-reason" id="confirm-toggle-reason-label">Reason</label>' in (
        dialog
    )
    assert 'autocomplete="off" required data-always-required>' in dialog
    page = signed_in.post(deployment_url(item, "enable/"), {"ask": "1"}).content.decode()
    assert '<label for="id_reason">Reason</label>' in page
    assert 'name="reason" maxlength="500" autocomplete="off" value="" required>' in page
    assert api_writes(on_sandbox) == []


@pytest.mark.parametrize(
    ("faults", "status", "words", "outcome"),
    [
        ({"error_status": 500}, 502, "not answering properly", "failed"),
        ({"error_status": 502}, 504, "know whether the change was made", "unknown"),
        ({"error_status": 422}, 422, "Patchworks", "failed"),
        ({"retry_after": 5}, 429, "try again in 5 seconds", "failed"),
    ],
)
def test_a_failed_write_shows_its_message_in_the_row(
    signed_in, on_sandbox, faults, status, words, outcome
):
    item = find_deployment(on_sandbox, enabled=False)
    on_sandbox.set_faults(methods=["POST"], **faults)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert response["X-Console-Fragment"] == "1"
    # The row stays as it was (nothing is swapped into it); the toast says what happened and
    # links to the deployment.
    assert response["HX-Reswap"] == "none"
    assert "HX-Retarget" not in response
    toast = toast_of(response)
    assert toast["level"] == "error" and words in toast["message"]
    assert toast["link"]["url"] == deployment_url(item)
    assert len([w for w in api_writes(on_sandbox) if w["method"] == "POST"]) == 1
    assert outcomes("enable") == ["pending", outcome]


def test_a_2xx_write_with_an_unreadable_body_succeeded_and_shows_the_state_read_back(
    signed_in, on_sandbox
):
    item = find_deployment(on_sandbox, enabled=False)
    on_sandbox.set_faults(methods=["POST"], malformed=True)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "is now enabled" in toast_of(response)["message"]
    assert len([w for w in api_writes(on_sandbox) if w["method"] == "POST"]) == 1
    assert outcomes("enable") == ["pending", "succeeded"]


def test_a_write_that_times_out_is_unknown_and_links_to_the_deployment(
    signed_in, on_sandbox, settings
):
    settings.PATCHWORKS_READ_TIMEOUT = 0.5
    item = find_deployment(on_sandbox, enabled=True)
    on_sandbox.set_faults(methods=["POST"], hang_seconds=2)
    response = signed_in.post(deployment_url(item, "disable/"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "know whether the change was made" in html
    assert deployment_url(item) in html
    assert outcomes("disable") == ["pending", "unknown"]
    assert len(api_writes(on_sandbox)) == 1


def test_a_deployment_deleted_meanwhile_says_so(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    on_sandbox.api(
        "DELETE", f"/api/v1/flow-versions/{item['flow_version_id']}/deployments/{item['id']}"
    )
    response = signed_in.post(deployment_url(item, "enable/"), follow=True)
    assert "no longer exists" in response.content.decode()
    assert outcomes("enable") == ["pending", "failed"]


def test_no_audit_no_write(signed_in, on_sandbox, monkeypatch):
    from deployments_ui import audit

    def broken(**kwargs):
        raise audit.AuditUnavailable()

    monkeypatch.setattr(audit, "record_attempt", broken)
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert "was not sent" in response.content.decode()
    assert api_writes(on_sandbox) == []


def test_next_cannot_leave_the_console(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(deployment_url(item, "enable/"), {"next": "https://evil.example/"})
    assert response["Location"] == deployment_url(item)


def test_a_sent_write_is_reported_even_if_its_outcome_cannot_be_recorded(
    signed_in, on_sandbox, monkeypatch
):
    from deployments_ui import audit

    def broken(*args, **kwargs):
        raise audit.AuditUnavailable()

    monkeypatch.setattr(audit, "record_outcome", broken)
    item = find_deployment(on_sandbox, enabled=False)
    response = signed_in.post(deployment_url(item, "enable/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "is now enabled" in toast_of(response)["message"]
    assert outcomes("enable") == ["pending"]


def test_a_failed_write_from_the_detail_page_shows_in_the_panel(signed_in, on_sandbox):
    item = find_deployment(on_sandbox, enabled=False)
    on_sandbox.set_faults(methods=["POST"], error_status=500)
    response = signed_in.post(
        deployment_url(item, "enable/"), {"fragment": "panel"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Retarget"] == f"#feedback-{item['id']}"
    assert response["HX-Reswap"] == "innerHTML"
    assert "not answering properly" in response.content.decode()
