"""verify_audit tells a wrong key from tampering, and names every changed event.

Tampering goes behind the console's back with raw SQL (on PostgreSQL as a superuser skipping
the append-only trigger); the last test runs `python manage.py verify_audit` as
docs/operations.md says, in a checkout where `make run` wrote .env.local.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from deployments_ui.audit import chain
from deployments_ui.models import AuditChainHead, AuditEvent
from tests.audit.test_keyed_chain import hmac_under, rehash_everything
from tests.audit.test_trail import tamper
from tests.factories import actor_for, console_disable

ROOT = Path(__file__).resolve().parents[2]
KEY = "the-key-the-console-runs-with"


@pytest.fixture(autouse=True)
def audit_key(settings):
    settings.CONSOLE_AUDIT_KEY = KEY
    settings.CONSOLE_AUDIT_STREAM = []


def two_disables(ann) -> list[AuditEvent]:
    console_disable(actor_for(ann))
    console_disable(actor_for(ann))
    return list(AuditEvent.objects.order_by("id"))


def fingerprint_of(settings, key: str) -> str:
    settings.CONSOLE_AUDIT_KEY, previous = key, settings.CONSOLE_AUDIT_KEY
    try:
        return chain.key_fingerprint()
    finally:
        settings.CONSOLE_AUDIT_KEY = previous


def test_the_head_records_a_fingerprint_of_the_key_not_the_key(ann, settings):
    events = two_disables(ann)
    head = AuditChainHead.objects.get()
    assert head.key_fingerprint == chain.key_fingerprint()
    assert len(head.key_fingerprint) == 16 and KEY not in head.key_fingerprint
    assert head.key_fingerprint != fingerprint_of(settings, "another-key")
    # The fingerprint is no part of what the events' hashes cover.
    tamper("UPDATE deployments_ui_auditchainhead SET key_fingerprint = ''", [])
    for event in events:
        assert chain.event_hash(event) == event.hash


def test_another_key_is_named_as_such_not_as_tampering(ann, settings):
    two_disables(ann)
    written_with = chain.key_fingerprint()
    settings.CONSOLE_AUDIT_KEY = "not-the-key-the-console-runs-with"
    errors = io.StringIO()

    with pytest.raises(CommandError) as error:
        call_command("verify_audit", stderr=errors)

    assert error.value.returncode == 3
    message = str(error.value)
    assert f"this trail was written with another key (fingerprint {written_with}" in message
    assert "Set CONSOLE_AUDIT_KEY" in message
    assert "changed after it was written" not in message + errors.getvalue()


def test_with_the_right_key_every_changed_event_is_named(ann):
    events = two_disables(ann)
    for event in (events[0], events[2]):
        tamper(
            "UPDATE deployments_ui_auditevent SET reason = %s WHERE id = %s",
            ["nothing happened", event.pk],
        )
    errors = io.StringIO()

    with pytest.raises(CommandError) as error:
        call_command("verify_audit", stderr=errors)

    assert error.value.returncode == 1
    assert f"broken at event {events[0].pk}" in str(error.value)
    assert "2 events changed" in str(error.value)
    listed = errors.getvalue()
    assert f"Events changed after they were written: {events[0].pk}, {events[2].pk}." in listed
    assert f"event {events[1].pk} no longer matches" not in listed


def test_a_changed_key_record_with_the_right_key_is_tampering(ann):
    two_disables(ann)
    tamper("UPDATE deployments_ui_auditchainhead SET key_fingerprint = %s", ["0123456789abcdef"])

    with pytest.raises(
        CommandError, match="the record of which key wrote the trail was changed"
    ) as error:
        call_command("verify_audit")
    assert error.value.returncode == 1


def test_a_head_rewritten_without_the_key_is_caught(ann):
    events = two_disables(ann)
    tamper(
        "DELETE FROM deployments_ui_auditevent WHERE id = %s", [events[-1].pk]
    )  # the last event, and the head moved back to the one before it
    tamper(
        "UPDATE deployments_ui_auditchainhead SET last_event_id = %s, last_hash = %s",
        [events[-2].pk, events[-2].hash],
    )

    with pytest.raises(CommandError, match="was changed by someone without the key"):
        call_command("verify_audit")


def test_a_trail_rewritten_with_another_key_and_its_fingerprint_is_not_passed(ann, settings):
    two_disables(ann)
    rehash_everything(hmac_under("an-attackers-key"))
    settings.CONSOLE_AUDIT_KEY = "an-attackers-key"  # the attacker seals the head with it
    head = AuditChainHead.objects.get()
    head.key_fingerprint = chain.key_fingerprint()
    head.seal = chain.seal_of(head)
    head.save()
    settings.CONSOLE_AUDIT_KEY = KEY

    with pytest.raises(CommandError, match="rewritten by someone with another key") as error:
        call_command("verify_audit")
    assert error.value.returncode == 3  # never "intact"


# The documented command in a `make run` checkout


def _clean_environment(database: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CONSOLE_", "DATABASE", "MIGRATE_", "HUEY_", "REDIS"))
    }
    environment["DATABASE_URL"] = f"sqlite:///{database}"
    return environment


def _manage(checkout: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(checkout / "manage.py"), *args],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


# What `make run` writes (Makefile, .env.local): a secret key and an encryption key.
LOCAL_ENV = (
    "DJANGO_SECRET_KEY=a-secret-as-make-run-writes-it\n"
    f"CONSOLE_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
)
APPEND = (
    "from deployments_ui.audit import chain; from deployments_ui.models import AuditEvent; "
    "chain.append(AuditEvent(action='disable', outcome='refused', deployment_id='101'))"
)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="runs the commands on a SQLite file")
def test_readmes_verify_audit_works_in_a_make_run_checkout(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "manage.py", checkout / "manage.py")
    (checkout / ".env.local").write_text(LOCAL_ENV)
    environment = _clean_environment(tmp_path / "console.sqlite3")
    # make run starts the console with .env.local in its environment; the event is its write.
    as_make_run = {**environment, **dict(line.split("=", 1) for line in LOCAL_ENV.splitlines())}
    for args in (("migrate", "--noinput"), ("shell", "-c", APPEND)):
        assert _manage(checkout, as_make_run, *args).returncode == 0

    # Only the audit commands read .env.local: the others keep the environment they are given.
    shell = _manage(
        checkout,
        environment,
        "shell",
        "-c",
        "import os; print(os.environ.get('DJANGO_SECRET_KEY'))",
    )
    assert shell.stdout.strip().splitlines()[-1] == "None"

    verified = _manage(checkout, environment, "verify_audit")
    assert verified.returncode == 0, verified.stderr
    assert "Audit trail intact: 1 events checked" in verified.stdout

    (checkout / ".env.local").unlink()  # the command now has another key than make run used
    refused = _manage(checkout, environment, "verify_audit")
    assert refused.returncode == 3
    assert "this trail was written with another key" in refused.stderr
    assert "changed after it was written" not in refused.stderr

    # A secret set in the environment wins over .env.local; the rest of the configuration is
    # not needed to check the trail.
    (checkout / ".env.local").write_text(LOCAL_ENV)
    environment["DJANGO_SECRET_KEY"] = "a-deployments-own-secret"
    refused = _manage(checkout, environment, "verify_audit")
    assert refused.returncode == 3, refused.stderr
    assert "this trail was written with another key" in refused.stderr
