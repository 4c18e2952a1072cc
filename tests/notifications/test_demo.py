"""`make run`'s demo: the admin is subscribed to live changes; changes reach the local receiver."""

from __future__ import annotations

import io
import urllib.request

import pytest
from django.core import mail
from django.core.management import call_command

from deployments_ui.notifications import delivery, sending
from deployments_ui.notifications.models import Subscription, Webhook
from tests.notifications.conftest import change

pytestmark = pytest.mark.django_db


def test_demo_setup_subscribes_the_admin_and_adds_the_receiver(settings, receiver):
    settings.DEBUG = True
    out = io.StringIO()
    for _ in range(2):  # safe to run again
        call_command("demo_setup", webhook_url=receiver.url + "demo", stdout=out)

    subscription = Subscription.objects.get()
    assert subscription.user.username == "admin" and subscription.environment_types == ["live"]
    webhook = Webhook.objects.get()
    assert webhook.url == receiver.url + "demo" and webhook.owner.username == "admin"
    assert "posted to the webhook receiver" in out.getvalue()

    change(subscription.user)
    sending.deliver_due()
    assert [item.path for item in receiver.received] == ["/demo"]
    assert mail.outbox[0].to == ["admin@example.com"]


def test_the_receiver_lists_what_it_received_escaped(receiver):
    delivery.post(receiver.url, b'{"summary": "<script>x</script>"}', {"X-Console-Event-Id": "7"})
    with urllib.request.urlopen(receiver.url) as response:
        page = response.read().decode()
    assert "1 received" in page and "X-Console-Event-Id: 7" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
