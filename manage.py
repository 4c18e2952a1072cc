#!/usr/bin/env python
"""Django's command-line tool; the sandbox uses it with DJANGO_SETTINGS_MODULE=sandbox.settings."""

import os
import sys
from pathlib import Path

LOCAL_ENV = Path(__file__).resolve().parent / ".env.local"


def read_local_env(path: Path = LOCAL_ENV) -> None:
    """In a checkout where `make run` wrote .env.local, commands run by hand (verify_audit, ...)
    use the same secrets as the running console. Only when DJANGO_SECRET_KEY is not set at all
    (a deployment always sets it), and never over a variable already set."""
    if "DJANGO_SECRET_KEY" in os.environ or not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def main() -> None:
    read_local_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
