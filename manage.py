#!/usr/bin/env python
"""Django's command-line tool; the sandbox uses it with DJANGO_SETTINGS_MODULE=sandbox.settings."""

import os
import sys
from pathlib import Path

LOCAL_ENV = Path(__file__).resolve().parent / ".env.local"
# The commands whose answer depends on the audit key: in a checkout where `make run` wrote
# .env.local, they read it, so that they use the key the running console uses. No other command
# does: tests and tools run the rest with environments of their own.
READS_LOCAL_ENV = {"verify_audit", "prune_audit", "stream_audit"}


def read_local_env(argv: list[str], path: Path = LOCAL_ENV) -> None:
    """Only when DJANGO_SECRET_KEY is not set at all (a deployment always sets it), and never
    over a variable already set."""
    command = argv[1] if len(argv) > 1 else ""
    if command not in READS_LOCAL_ENV or "DJANGO_SECRET_KEY" in os.environ or not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def main() -> None:
    read_local_env(sys.argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
