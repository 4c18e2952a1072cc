"""console-cli against a live console (and the sandbox behind it): disable, enable, status and
audit, as a script would run them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cli import console_cli
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.models import ScheduledChange
from tests.api.helpers import token_for
from tests.changes.helpers import protect
from tests.deployments import api_writes, read_back


@pytest.fixture
def cli(live_server, operator, on_sandbox, monkeypatch, capsys):
    monkeypatch.setenv("CONSOLE_URL", live_server.url)
    monkeypatch.setenv("CONSOLE_TOKEN", token_for(operator))

    def run(*argv: str) -> tuple[int, str, str]:
        code = console_cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def flow_and_env(live_server, operator, item) -> tuple[str, str]:
    from django.test import Client

    client = Client()
    secret = token_for(operator, name="lookup")
    path = f"/api/v1/deployments/{item['flow_version_id']}/{item['id']}"
    found = client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    return found["flow_name"], found["environment"]["name"]


def only_one(on_sandbox, *, live: bool) -> dict:
    """An enabled deployment whose flow has no other deployment in its environment."""
    from tests.deployments import sandbox_deployments

    everything = sandbox_deployments(on_sandbox, "filter[global]=0")
    for item in everything:
        environment = item.get("virtualEnvironment") or {}
        if not item["enabled_at"] or (environment.get("type") == "live") != live:
            continue
        flow = (item.get("flowVersion") or {}).get("flow_id")
        twins = [
            other
            for other in everything
            if (other.get("flowVersion") or {}).get("flow_id") == flow
            and (other.get("virtualEnvironment") or {}).get("id") == environment.get("id")
        ]
        if len(twins) == 1:
            return item
    raise AssertionError("the demo data has no such deployment")


def test_disable_then_status_then_audit(cli, live_server, operator, on_sandbox):
    item = only_one(on_sandbox, live=False)
    flow, env = flow_and_env(live_server, operator, item)
    on_sandbox.clear_requests()

    code, out, err = cli("disable", flow, "--env", env, "--reason", "nightly maintenance")
    assert (code, err) == (0, "")
    assert "is now disabled." in out
    assert [w["path"].rsplit("/", 1)[-1] for w in api_writes(on_sandbox)] == ["disable"]
    assert not read_back(on_sandbox, item)["enabled_at"]

    code, out, _ = cli("status", flow, "--env", env)
    assert code == 0 and out.strip().endswith(": disabled")

    code, out, _ = cli("audit", "--since", "1h", "--action", "disable")
    assert code == 0
    assert "Oscar Operator, by token 'nightly maintenance', disabled" in out
    assert "reason: nightly maintenance — succeeded" in out

    code, out, _ = cli("disable", flow, "--env", env, "--reason", "again")
    assert code == 0 and "Already disabled" in out


def test_disable_at_a_time_schedules_it(cli, live_server, operator, on_sandbox):
    item = only_one(on_sandbox, live=False)
    flow, env = flow_and_env(live_server, operator, item)
    on_sandbox.clear_requests()
    at = datetime.now().astimezone() + timedelta(hours=3)
    code, out, err = cli("disable", flow, "--env", env, "--reason", "window", "--at", f"{at:%H:%M}")
    assert (code, err) == (0, ""), out
    assert out.startswith("Scheduled for ")
    change = ScheduledChange.objects.get()
    local = change.due_at.astimezone(at.tzinfo)
    assert (local.hour, local.minute) == (at.hour, at.minute)
    assert timedelta(0) < change.due_at - datetime.now().astimezone() <= timedelta(days=1)
    assert api_writes(on_sandbox) == []


def test_a_live_change_waits_for_approval_and_says_where(cli, live_server, operator, on_sandbox):
    protect("live")
    item = only_one(on_sandbox, live=True)
    flow, env = flow_and_env(live_server, operator, item)
    code, out, _ = cli("disable", flow, "--env", env, "--reason", "supplier outage")
    assert code == 3
    request = ChangeRequest.objects.get()
    assert f"Change request {request.pk}: {live_server.url}/changes/{request.pk}/" in out


def test_refusals_are_told_in_plain_words_with_their_fields(cli, live_server, operator, on_sandbox):
    item = only_one(on_sandbox, live=True)
    flow, env = flow_and_env(live_server, operator, item)
    code, out, err = cli("disable", flow, "--env", env)
    assert code == 1 and out == ""
    assert "need a reason" in err and "reason:" in err


def test_an_unknown_flow_or_environment_is_said_plainly(cli):
    code, _, err = cli("disable", "No such flow", "--env", "Nowhere", "--reason", "r")
    assert code == 1
    assert err.strip() == "No deployment of the flow 'No such flow' in Nowhere was found."


def test_a_bad_token_or_time_is_said_plainly(cli, monkeypatch):
    code, _, err = cli("audit", "--since", "a while")
    assert code == 2 and "30m, 1h or 2d" in err
    monkeypatch.setenv("CONSOLE_TOKEN", "cpt_wrong")
    code, _, err = cli("status", "x")
    assert code == 1 and "personal API token" in err


def test_without_settings_it_says_what_to_set(monkeypatch, capsys):
    monkeypatch.delenv("CONSOLE_URL", raising=False)
    monkeypatch.delenv("CONSOLE_TOKEN", raising=False)
    assert console_cli.main(["status", "x"]) == 2
    assert "CONSOLE_URL and CONSOLE_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "hour", "days"), [("02:00", 2, 1), ("23:30", 23, 0)])
def test_a_time_of_day_is_the_next_one(text, hour, days):
    now = datetime(2026, 12, 7, 12, 0).astimezone()
    when = datetime.fromisoformat(console_cli.at_time(text, now))
    assert when.hour == hour and (when.date() - now.date()).days == days
    assert when.utcoffset() is not None


def test_enable_with_a_version(cli, live_server, operator, on_sandbox):
    item = only_one(on_sandbox, live=False)
    flow, env = flow_and_env(live_server, operator, item)
    version = str(read_back(on_sandbox, item)["flowVersion"]["iteration"])
    assert cli("disable", flow, "--env", env, "--reason", "r")[0] == 0
    code, out, _ = cli("enable", flow, "--env", env, "--reason", "back", "--version", version)
    assert code == 0 and "is now enabled." in out
    code, _, err = cli("enable", flow, "--env", env, "--version", "999")
    assert code == 1 and "No deployment" in err


def test_disable_until_a_time_disables_now_and_schedules_the_enable(
    cli, live_server, operator, on_sandbox
):
    item = only_one(on_sandbox, live=False)
    flow, env = flow_and_env(live_server, operator, item)
    until = (datetime.now() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    code, out, err = cli("disable", flow, "--env", env, "--reason", "r", "--until", until)
    assert (code, err) == (0, ""), out
    assert not read_back(on_sandbox, item)["enabled_at"]
    assert ScheduledChange.objects.get().action == "enable"


def test_a_console_that_does_not_answer_is_said_plainly(monkeypatch, capsys):
    monkeypatch.setenv("CONSOLE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CONSOLE_TOKEN", "cpt_x")
    assert console_cli.main(["status", "x"]) == 1
    assert "Could not reach the console at http://127.0.0.1:9/api/v1" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["25:00", "tomorrow", "12:75"])
def test_a_time_that_is_not_one_is_wrong_use(text):
    with pytest.raises(console_cli.Failure) as failure:
        console_cli.at_time(text)
    assert failure.value.status == 2


@pytest.mark.parametrize(("since", "hours"), [("30m", 1), ("1h", 1), ("90m", 2), ("2d", 48)])
def test_since_becomes_whole_hours(since, hours):
    assert console_cli.hours_in(since) == hours
