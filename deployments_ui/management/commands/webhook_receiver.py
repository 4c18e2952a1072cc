"""Run a local webhook receiver that prints each post and lists them at its address."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from deployments_ui.notifications import receiver


class Command(BaseCommand):
    help = "Receive webhooks locally: print each post, and list them on GET (for trying out)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8002)

    def handle(self, *args, host: str, port: int, **options) -> None:
        running = receiver.start(host, port, echo=True)
        self.stdout.write(f"Webhook receiver listening on {running.url} (GET it to see posts)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            running.stop()
