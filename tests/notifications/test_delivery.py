"""Posting webhooks: signed as documented, and refused where they must not go (SSRF)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from pathlib import Path

import pytest

from deployments_ui.notifications import delivery
from deployments_ui.notifications.delivery import DeliveryFailed, DeliveryRefused

BODY = b'{"summary": "hello"}'


def _documented_recipe():
    """The verification function as docs/operations.md shows it, run as is."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    [code] = [
        block.removeprefix("python\n")
        for block in page.split("```")
        if block.startswith("python\n") and "def is_from_the_console" in block
    ]
    namespace: dict = {}
    exec(code, namespace)
    return namespace["is_from_the_console"]


verify = _documented_recipe()


def test_the_recipe_agrees_with_a_plain_hmac():
    body, timestamp = b"{}", "1700000000"
    mac = hmac.new(b"k", b"1700000000.42.{}", hashlib.sha256).hexdigest()
    headers = {
        "X-Console-Timestamp": timestamp,
        "X-Console-Event-Id": "42",
        "X-Console-Signature": f"sha256={mac}",
    }
    assert verify("k", headers, body)
    assert delivery.signature("k", timestamp, body, "42") == f"sha256={mac}"
    # The event id is signed: a post replayed under another id does not verify.
    assert not verify("k", {**headers, "X-Console-Event-Id": "43"}, body)


def test_the_signature_is_verifiable_with_the_documented_recipe(receiver):
    headers = delivery.signed_headers("s3cret", BODY, event_id="42")
    delivery.post(receiver.url + "hook", BODY, headers)

    got = receiver.received[0]
    assert got.path == "/hook" and got.body == BODY
    assert got.headers["X-Console-Event-Id"] == "42"
    assert verify("s3cret", got.headers, got.body)
    assert not verify("another", got.headers, got.body)
    assert not verify("s3cret", got.headers, got.body + b" ")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_internal_addresses_are_refused(settings, url):
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(DeliveryRefused, match="may not"):
        delivery.post(url, BODY, {})


def test_a_name_resolving_to_loopback_is_refused(settings, receiver):
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = False
    port = receiver.server.server_address[1]
    with pytest.raises(DeliveryRefused, match=r"is this machine \(loopback\)"):
        delivery.post(f"http://localhost:{port}/", BODY, {})
    assert receiver.received == []


def test_http_is_refused_unless_allowed(settings):
    settings.CONSOLE_WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(DeliveryRefused, match="Only https"):
        delivery.post("http://hooks.example.com/", BODY, {})
    with pytest.raises(DeliveryRefused, match="must start with https"):
        delivery.post("ftp://hooks.example.com/", BODY, {})


def test_it_connects_to_the_address_it_checked_not_a_second_answer(settings, monkeypatch):
    """DNS rebinding: the name is resolved once; the connection goes to that checked address."""
    settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = False
    answers = iter(["93.184.216.34", "127.0.0.1"])
    lookups, connections = [], []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection
    ours = threading.get_ident()  # the socket module is shared: other threads pass through

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if threading.get_ident() != ours:
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    def fake_connect(address, *args, **kwargs):
        if threading.get_ident() != ours:
            return real_connect(address, *args, **kwargs)
        connections.append(address)
        raise ConnectionRefusedError("not really")

    monkeypatch.setattr(delivery.socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(delivery.socket, "create_connection", fake_connect)
    with pytest.raises(DeliveryFailed, match="Could not connect"):
        delivery.post("https://hooks.example.com/x", BODY, {})
    assert lookups == ["hooks.example.com"]
    assert connections == [("93.184.216.34", 443)]


def test_the_host_name_is_kept_for_the_receiver(receiver, monkeypatch):
    port = receiver.server.server_address[1]
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == "hooks.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(delivery.socket, "getaddrinfo", fake_getaddrinfo)
    delivery.post(f"http://hooks.example.test:{port}/in", BODY, {})
    assert receiver.received[0].headers["Host"] == f"hooks.example.test:{port}"


def test_redirects_are_not_followed(receiver):
    receiver.answers.append((302, {"Location": "http://169.254.169.254/"}))
    with pytest.raises(DeliveryFailed, match=r"302, a redirect .* not followed") as caught:
        delivery.post(receiver.url, BODY, {})
    assert caught.value.status == 302
    assert len(receiver.received) == 1


def test_an_error_answer_is_a_short_failure_note(receiver):
    receiver.answers.append((500, {}))
    with pytest.raises(DeliveryFailed, match="answered 500: <b>not ok</b>"):
        delivery.post(receiver.url, BODY, {})


def test_a_silent_receiver_times_out(settings):
    settings.CONSOLE_WEBHOOK_ALLOW_HTTP = settings.CONSOLE_WEBHOOK_ALLOW_PRIVATE = True
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryFailed, match=r"No answer within 0\.3 seconds"):
            delivery.post(f"http://127.0.0.1:{port}/", BODY, {}, timeout=0.3)
    finally:
        listener.close()
