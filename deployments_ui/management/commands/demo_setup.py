"""Demo sign-ins for local trials: one user per role, each with its sandbox API key.

Refuses to run unless DEBUG is on or --force-demo is given, so that production settings never
get users with a published password. Safe to run again: it resets the same users.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from deployments_ui.accounts import crypto
from deployments_ui.accounts.credentials import store_api_key
from deployments_ui.accounts.models import RoleScope
from deployments_ui.accounts.sso import ROLE_NAMES
from deployments_ui.changes.models import ChangeRule
from deployments_ui.notifications import services as notifications
from deployments_ui.notifications.models import Subscription, Webhook

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    # username, first name, last name, role, sandbox key
    ("viewer", "Vera", "Viewer", "Viewer", "sandbox-key-viewer"),
    ("operator", "Oscar", "Operator", "Operator", "sandbox-key-operator"),
    ("editor", "Edie", "Editor", "Editor", "sandbox-key-editor"),
    ("admin", "Adam", "Admin", "Admin", "sandbox-key-admin"),
    # Reads the whole trail and changes nothing: the sandbox's read-only key is enough.
    ("auditor", "Audrey", "Auditor", "Auditor", "sandbox-key-readonly"),
    # A Viewer everywhere but an Operator in test environments (scoped roles, docs/roles.md).
    ("tester", "Tess", "Tester", "Viewer", "sandbox-key-tester"),
]
# Scoped roles of the demo users: username -> [(role, environment type)].
DEMO_SCOPES = {"tester": [("Operator", "test"), ("Viewer", "live")]}


class Command(BaseCommand):
    help = "Create the demo users, one per role (password demo-password)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force-demo",
            action="store_true",
            help="Run even though DEBUG is off. Never on a console people really use.",
        )
        parser.add_argument(
            "--no-change-control",
            action="store_true",
            help="Leave live environments unprotected (benchmarks that flip live deployments).",
        )
        parser.add_argument(
            "--webhook-url",
            default=os.environ.get("CONSOLE_DEMO_WEBHOOK_URL", ""),
            help="Add a webhook posting every change to this address (the local receiver).",
        )

    @transaction.atomic
    def handle(
        self,
        *args,
        force_demo: bool = False,
        no_change_control: bool = False,
        webhook_url: str = "",
        **options,
    ) -> None:
        if not (settings.DEBUG or force_demo):
            raise CommandError(
                "demo_setup creates users with a published password, so it runs only with "
                "DJANGO_DEBUG=true (or --force-demo, for a throwaway trial)."
            )
        missing = set(ROLE_NAMES) - set(Group.objects.values_list("name", flat=True))
        if missing:
            raise CommandError("The role groups are missing: run `manage.py migrate` first.")
        for username, first, last, role, key in DEMO_USERS:
            self._demo_user(username, first, last, role, key)
            scoped = "".join(f", {r} in {t}" for r, t in DEMO_SCOPES.get(username, []))
            self.stdout.write(f"{username} ({role}{scoped}) is ready, with key ending {key[-4:]}.")
        self.stdout.write(f"Sign in as any of them with the password {DEMO_PASSWORD!r}.")
        if not no_change_control:
            self._protect_live_environments()
        self._demo_notifications(webhook_url)

    def _protect_live_environments(self) -> None:
        """Changes to live environments need one approval and the environment's name typed."""
        ChangeRule.objects.update_or_create(
            environment_type="live",
            environment_id="",
            defaults={"needs_approval": True, "approvals_required": 1, "confirm_name": True},
        )
        self.stdout.write(
            "Live environments are protected: changes need another person's approval "
            "and the environment's name typed (Change control page)."
        )

    def _demo_user(self, username: str, first: str, last: str, role: str, key: str) -> None:
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.first_name, user.last_name = first, last
        user.email = f"{username}@example.com"
        user.is_active = True
        user.is_staff = user.is_superuser = role == "Admin"
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        RoleScope.objects.filter(user=user).delete()
        for scoped_role, environment_type in DEMO_SCOPES.get(username, []):
            RoleScope.objects.create(user=user, role=scoped_role, environment_type=environment_type)
        # Not checked with Patchworks: the sandbox may not be running yet.
        store_api_key(user, key)

    def _demo_notifications(self, webhook_url: str) -> None:
        """The admin is emailed about changes to live environments; every change is posted to
        the local webhook receiver (allowed because DEBUG allows http and loopback)."""
        admin = get_user_model().objects.get(username="admin")
        Subscription.objects.update_or_create(
            user=admin,
            name="Live environments",
            defaults={"environment_types": ["live"], "frequency": "immediate"},
        )
        self.stdout.write("admin is subscribed to changes in live environments (email at once).")
        if not webhook_url:
            return
        webhook = Webhook.objects.filter(name="Local receiver").first()
        if webhook is None:
            webhook = Webhook(name="Local receiver", owner=admin)
            webhook.encrypted_secret = crypto.encrypt(notifications.new_secret())
        webhook.url, webhook.format, webhook.is_active = webhook_url, Webhook.Format.JSON, True
        webhook.save()
        self.stdout.write(f"Every change is posted to the webhook receiver at {webhook_url}.")
