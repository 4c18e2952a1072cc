"""Set-up and read-back for the notification tests that run a real consumer.

Run as `python -m tests.notifications.harness <command> ...` with the consumer's environment, so
that the test, the consumer and this script share one SQLite database. Prints JSON.
"""

from __future__ import annotations

import json
import sys

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User

    from deployments_ui import audit
    from deployments_ui.accounts import crypto
    from deployments_ui.notifications.models import Delivery, Webhook

    command = argv[0]
    if command == "webhook":
        url, secret = argv[1], argv[2]
        owner = User.objects.create_user("adam", "adam@example.com", first_name="Adam")
        owner.groups.add(Group.objects.get(name="Admin"))
        webhook = Webhook.objects.create(
            name="Receiver", url=url, encrypted_secret=crypto.encrypt(secret), owner=owner
        )
        print(json.dumps({"id": webhook.pk}))
    elif command == "admin":
        from deployments_ui.accounts.credentials import store_api_key

        user = User.objects.create_user(
            "adam", "adam@example.com", argv[1], first_name="Adam", last_name="Admin"
        )
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get(name="Admin"))
        store_api_key(user, "sandbox-key-admin")
        print(json.dumps({"id": user.pk}))
    elif command == "change":
        actor = audit.Actor(name="Ana Ops", username="ana")
        from deployments_ui.core.identity import DeploymentRef

        target = DeploymentRef(deployment_id="101", flow_name="Orders", environment_name="UK Live")
        ids = []
        for _ in range(int(argv[1])):
            attempt = audit.record_attempt(actor=actor, action="disable", target=target)
            outcome = audit.record_outcome(attempt, outcome="succeeded", upstream_status=200)
            ids.append(outcome.pk)
        print(json.dumps({"ids": ids}))
    elif command == "status":
        rows = Delivery.objects.order_by("id").values("event_id", "status", "attempts")
        print(json.dumps({"deliveries": list(rows)}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
