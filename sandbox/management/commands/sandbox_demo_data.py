"""Load the sandbox's demo data (once), and print the API keys it can be used with."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from sandbox import loading
from sandbox.models import Deployment, SandboxUser


class Command(BaseCommand):
    help = "Load the sandbox demo data; does nothing if it is already there, unless --reset."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="wipe the demo data and load it afresh"
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        if loading.has_demo_data() and not reset:
            self.stdout.write("Demo data already loaded (use --reset to reload it).")
        else:
            loaded = loading.load_demo_data()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {loaded.flows} flows, {loaded.versions} versions and "
                    f"{loaded.deployments} deployments."
                )
            )
        self.stdout.write(f"{Deployment.objects.count()} deployments. API keys (sandbox only):")
        for user in SandboxUser.objects.exclude(api_key=None).order_by("id"):
            self.stdout.write(f"  {user.api_key:<24} {user.name} <{user.email}>")
