"""A slow receiver cannot hold the worker: a post has a deadline for the whole answer, and
deliveries are sent by a thread of their own, never by the consumer that runs due changes."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.db import connection, connections
from django.utils import timezone

from deployments_ui.notifications import delivery, sender, sending
from deployments_ui.notifications.delivery import DeliveryFailed
from deployments_ui.notifications.models import Delivery
from deployments_ui.notifications.tasks import deliver_due
from tests.notifications.conftest import TEST_ENV, change, make_webhook

ANSWER = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 400 + b"\r\nContent-Length: 2\r\n\r\nok"
BOUND = 30.0  # seconds: waits end long before this on any machine


class Trickler:
    """A receiver that reads the post, then answers one byte every `pace` seconds: never
    silent long enough for a per-read timeout to fire."""

    def __init__(self, pace: float = 0.1) -> None:
        self.pace = pace
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connected = threading.Event()
        self.cut_off = threading.Event()
        self.sent = 0
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        self.connected.set()
        with conn:
            conn.recv(65536)
            for byte in ANSWER:
                if self.stopping.wait(self.pace):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    self.cut_off.set()  # the console closed the connection
                    return
                self.sent += 1

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()


@pytest.fixture
def trickler(settings):
    settings.CONSOLE_WEBHOOK_ALLOW_HTTP = True
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = True
    running = Trickler()
    yield running
    running.stop()


def test_a_trickling_receiver_is_cut_off_at_the_deadline(trickler):
    started = time.monotonic()

    with pytest.raises(DeliveryFailed, match=r"No answer within 1 seconds"):
        delivery.post(trickler.url, b"{}", {}, timeout=1.0)

    # The whole answer would take over 40 s at its pace; the post gave up at its deadline.
    assert time.monotonic() - started < BOUND
    assert trickler.cut_off.wait(BOUND)
    assert trickler.sent < len(ANSWER)


@pytest.mark.django_db
def test_sending_a_test_to_a_trickling_receiver_fails_plainly(trickler, settings):
    settings.CONSOLE_WEBHOOK_TIMEOUT = 1.0
    webhook = make_webhook(trickler.url)

    item = sending.send_test(webhook)

    assert item.status == Delivery.Status.FAILED
    assert item.last_error.startswith("No answer within 1 seconds")


def wait_until(condition) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


@pytest.fixture
def sender_thread():
    yield
    sender.stop()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_never_holds_the_task_that_nudges_it(
    trickler, settings, sender_thread, operator
):
    settings.CONSOLE_WEBHOOK_TIMEOUT = 5.0
    event = change(operator, target=TEST_ENV)
    webhook = make_webhook(trickler.url)
    sender.start()
    wait_until(lambda: sender.looks() > 0)  # its first look, with nothing due, is over
    item = Delivery.objects.create(event=event, webhook=webhook, kind="change")

    assert deliver_due().get() == 0  # the task only woke the sender thread

    # The receiver is still trickling to the sender thread: the task did not wait for it.
    item.refresh_from_db()
    assert item.last_error == ""
    assert trickler.connected.wait(BOUND)
    wait_until(lambda: Delivery.objects.get(pk=item.pk).last_error != "")
    item.refresh_from_db()
    assert item.last_error.startswith("No answer within 5 seconds")
    assert item.status == Delivery.Status.PENDING  # retried later, never lost
    assert item.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_without_a_sender_thread_the_task_sends_itself(receiver, operator):
    event = change(operator, target=TEST_ENV)
    webhook = make_webhook(receiver.url + "hook")
    Delivery.objects.create(event=event, webhook=webhook, kind="change")

    assert not sender.running()
    assert deliver_due().get() == 1
    assert len(receiver.received) == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's in-memory test database is never closed"
)
@pytest.mark.django_db(transaction=True)
def test_a_stopped_sender_thread_closes_its_database_connection(monkeypatch, sender_thread):
    used = []

    def send_all_and_note_the_connection() -> int:
        connections["default"].ensure_connection()
        used.append(connections["default"])  # the sender thread's own
        return original()

    original = sender.send_all
    monkeypatch.setattr(sender, "send_all", send_all_and_note_the_connection)
    sender.start()
    wait_until(lambda: sender.looks() > 0)
    sender.stop()

    assert used and used[0] is not connections["default"]
    assert used[0].connection is None
