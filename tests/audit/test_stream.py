"""The audit stream against real receivers: a file, and syslog over UDP and TCP served by
receiver processes the tests start (tests/audit/syslog_receiver.py)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from deployments_ui import audit
from deployments_ui.audit import chain, stream
from deployments_ui.models import AuditEvent, AuditStreamCursor
from deployments_ui.worker.tasks import every_minute
from tests.audit.test_keyed_chain import clear_the_head_record, plain_sha256, rehash_everything
from tests.audit.test_trail import tamper
from tests.factories import actor_for, console_disable

RECEIVER = Path(__file__).with_name("syslog_receiver.py")
SYSLOG = re.compile(r"^<110>1 (\S+) (\S+) deployments-console - audit - (\{.*\})$")
AUDIT_KEY = "a-test-audit-key-for-the-stream"


@pytest.fixture(autouse=True)
def audit_key(settings):
    settings.CONSOLE_AUDIT_KEY = AUDIT_KEY
    settings.CONSOLE_AUDIT_STREAM = []


@dataclass
class Receiver:
    kind: str
    out: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def spec(self) -> str:
        scheme = "syslog+tcp" if self.kind == "tcp" else "syslog"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), self.kind, str(self.port), str(self.out)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def messages(self, at_least: int) -> list[str]:
        """What arrived, waiting (a bounded while) for at least `at_least` messages."""
        for _ in range(200):
            lines = self.out.read_text().splitlines() if self.out.exists() else []
            if len(lines) >= at_least:
                return lines
            time.sleep(0.05)
        return lines


@pytest.fixture
def receivers(tmp_path) -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def start_receiver(receivers: list[Receiver], kind: str, tmp_path: Path) -> Receiver:
    receiver = Receiver(kind, tmp_path / f"{kind}-{len(receivers)}.log")
    receiver.start()
    receivers.append(receiver)
    return receiver


def disables(ann, count: int) -> list[AuditEvent]:
    for _ in range(count):
        console_disable(actor_for(ann))
    return list(AuditEvent.objects.order_by("id"))


def payloads(messages: list[str]) -> list[dict]:
    lines = []
    for message in messages:
        match = SYSLOG.match(message)
        assert match, f"not an RFC 5424 message: {message[:80]}"
        lines.append(json.loads(match.group(3)))
    return lines


def assert_verifiable(lines: list[dict]) -> None:
    """What a receiver can check with the key: every hash, every link, ids in order."""
    previous = chain.GENESIS_HASH
    for line in lines:
        assert line["type"] == "audit_event"
        assert line["previous_hash"] == previous
        keyed = line["hashed_with"] == "hmac-sha256"
        assert (
            chain.content_hash(line["previous_hash"], line["content"], keyed=keyed) == line["hash"]
        )
        previous = line["hash"]


def ids(lines: list[dict]) -> list[int]:
    return [line["id"] for line in lines]


# A file


def test_a_file_gets_every_event_once_as_a_verifiable_line(ann, settings, tmp_path):
    path = tmp_path / "audit-stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{path}"]
    events = disables(ann, 2)

    call_command("stream_audit", stdout=io.StringIO())
    call_command("stream_audit", stdout=io.StringIO())  # nothing new: nothing sent twice

    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert ids(lines) == [event.pk for event in events]
    assert_verifiable(lines)
    assert lines[0]["content"]["action"] == "disable"
    assert lines[0]["content"]["reason"] == "supplier outage"

    later = console_disable(actor_for(ann))
    call_command("stream_audit", stdout=io.StringIO())
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert ids(lines) == [event.pk for event in AuditEvent.objects.order_by("id")]
    assert later.pk in ids(lines)
    assert_verifiable(lines)


def test_the_worker_tick_sends_in_bounded_batches(ann, settings, tmp_path):
    path = tmp_path / "stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{path}"]
    settings.CONSOLE_AUDIT_STREAM_BATCH = 2
    settings.CONSOLE_SERVICE_API_KEY = ""
    events = disables(ann, 3)

    every_minute()

    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert ids(lines) == [event.pk for event in events]  # three batches of two
    cursor = AuditStreamCursor.objects.get(destination=f"file:{path}")
    assert cursor.last_event_id == events[-1].pk and cursor.last_hash == events[-1].hash


def test_the_time_bound_stops_delivery_and_the_next_run_carries_on(ann, settings, tmp_path):
    path = tmp_path / "stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{path}"]
    events = disables(ann, 1)

    reports = stream.deliver(seconds=0)  # no time at all: nothing is sent
    assert reports[0].sent == 0 and not path.exists()

    assert stream.deliver(seconds=30)[0].sent == len(events)


# Syslog over UDP and TCP


@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_syslog_receivers_get_rfc5424_messages_in_order(ann, settings, tmp_path, receivers, kind):
    receiver = start_receiver(receivers, kind, tmp_path)
    settings.CONSOLE_AUDIT_STREAM = [receiver.spec]
    events = disables(ann, 3)

    call_command("stream_audit", stdout=io.StringIO())

    lines = payloads(receiver.messages(at_least=len(events)))
    assert ids(lines) == [event.pk for event in events]
    assert_verifiable(lines)
    stamp = SYSLOG.match(receiver.messages(1)[0]).group(1)  # type: ignore[union-attr]
    assert stamp.endswith("Z") and stamp.startswith(str(events[0].occurred_at.year))


def test_a_tcp_receiver_that_was_down_gets_everything_in_order_when_back(
    ann, settings, tmp_path, receivers, client, admin_user
):
    receiver = start_receiver(receivers, "tcp", tmp_path)
    settings.CONSOLE_AUDIT_STREAM = [receiver.spec]
    first = disables(ann, 1)
    stream.deliver()
    assert len(receiver.messages(at_least=len(first))) == len(first)

    receiver.stop()
    disables(ann, 2)  # changes go on while the receiver is down
    report = stream.deliver()[0]
    assert report.sent == 0
    assert report.error.startswith("Nothing is listening at syslog at 127.0.0.1")
    cursor = AuditStreamCursor.objects.get(destination=receiver.spec)
    assert cursor.last_event_id == first[-1].pk  # nothing counted as sent

    client.force_login(admin_user)
    page = client.get(reverse("worker-status")).content.decode()
    assert "Not reaching it" in page
    assert "4 behind" in page
    assert "Nothing is listening at syslog at 127.0.0.1" in page

    receiver.start()  # back on the same port
    stream.deliver()
    everything = [event.pk for event in AuditEvent.objects.order_by("id")]
    lines = payloads(receiver.messages(at_least=len(everything)))
    assert ids(lines) == everything  # the first event, then the rest: no gap, no reordering
    assert_verifiable(lines)
    page = client.get(reverse("worker-status")).content.decode()
    assert "Working" in page and "none: up to date" in page


def test_a_udp_receiver_that_was_down_is_sent_the_batch_again(ann, settings, tmp_path, receivers):
    receiver = start_receiver(receivers, "udp", tmp_path)
    settings.CONSOLE_AUDIT_STREAM = [receiver.spec]
    receiver.stop()
    events = disables(ann, 2)

    report = stream.deliver()[0]  # the port refuses: the second datagram reports it
    assert "Nothing is listening" in report.error
    assert AuditStreamCursor.objects.get(destination=receiver.spec).last_event_id == 0

    receiver.start()
    stream.deliver()
    lines = payloads(receiver.messages(at_least=len(events)))
    assert ids(lines) == [event.pk for event in events]


def test_a_destination_that_is_down_never_holds_up_a_change(ann, settings, tmp_path, receivers):
    receiver = start_receiver(receivers, "tcp", tmp_path)
    receiver.stop()
    settings.CONSOLE_AUDIT_STREAM = [receiver.spec]

    attempt = console_disable(actor_for(ann))

    assert AuditEvent.objects.filter(completes=attempt, outcome="succeeded").exists()
    with pytest.raises(CommandError, match="resume from where they stopped"):
        call_command("stream_audit", stdout=io.StringIO(), stderr=io.StringIO())


# The worker page, settings and what the stream proves


def test_the_worker_page_shows_each_destination_in_plain_words(
    ann, settings, tmp_path, client, admin_user
):
    path = tmp_path / "stream.jsonl"
    missing = tmp_path / "no-such-folder" / "stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{path}", f"file:{missing}"]
    disables(ann, 1)
    stream.deliver()
    client.force_login(admin_user)

    page = client.get(reverse("worker-status")).content.decode()

    assert f"the file {path}" in page
    assert "none: up to date" in page
    assert f"The folder of the file {missing} does not exist." in page
    assert "2 behind" in page
    assert "Traceback" not in page and "Errno" not in page


def test_the_worker_page_says_when_nothing_is_streamed(db, client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("worker-status")).content.decode()
    assert "The audit trail is not sent anywhere else" in page


@pytest.mark.parametrize(
    "spec",
    ["file:", "syslog://nohost", "syslog+tcp://host:notaport", "https://siem.example/in", "kafka"],
)
def test_a_destination_that_is_not_one_is_named_by_the_checks(settings, spec):
    settings.CONSOLE_AUDIT_STREAM = [spec]
    errors = [error for error in run_checks() if error.id == "deployments_ui.E010"]
    assert len(errors) == 1
    assert spec in errors[0].msg
    assert stream.configured() == []


def test_what_the_stream_delivered_catches_a_trail_rewritten_whole(ann, settings, tmp_path):
    path = tmp_path / "stream.jsonl"
    settings.CONSOLE_AUDIT_STREAM = [f"file:{path}"]
    disables(ann, 2)
    stream.deliver()
    tamper("UPDATE deployments_ui_auditevent SET reason = %s", ["nothing happened"])
    rehash_everything(plain_sha256, keyed_from=None)
    clear_the_head_record()
    tamper("DELETE FROM deployments_ui_auditcheckpoint", [])

    result = audit.verify_chain()

    assert not result.ok
    assert f"is not the event what the audit stream sent to file:{path} names" in result.problem
