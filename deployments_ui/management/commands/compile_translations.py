"""Compile the console's translations (locale/*/LC_MESSAGES/django.po) into .mo files.

Django's compilemessages needs GNU gettext's msgfmt, which the slim image has not; the catalogue
format is simple enough to write here (the GNU .mo layout: a header, two tables of offsets, then
the strings). Run by `make install`, the test suite and the image build."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def parse_po(text: str) -> dict[str, str]:
    """msgid (with `msgctxt\\x04` before it, plural forms joined by NUL) -> msgstr."""
    entries: dict[str, str] = {}
    fields: dict[str, str] = {}
    current = ""

    def finish() -> None:
        if "msgid" in fields and not fields.get("fuzzy"):
            msgid = fields["msgid"]
            if "msgid_plural" in fields:
                msgid += "\0" + fields["msgid_plural"]
                plurals = sorted(key for key in fields if key.startswith("msgstr["))
                msgstr = "\0".join(fields[key] for key in plurals)
            else:
                msgstr = fields.get("msgstr", "")
            if "msgctxt" in fields:
                msgid = fields["msgctxt"] + "\x04" + msgid
            if msgstr.replace("\0", "") or not msgid:
                entries[msgid] = msgstr
        fields.clear()

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#,") and "fuzzy" in line:
            finish()
            fields["fuzzy"] = "1"
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            fields[current] += ast.literal_eval(line)
            continue
        key, _, value = line.partition(" ")
        if key in ("msgid", "msgctxt") and ("msgstr" in fields or "msgstr[0]" in fields):
            finish()
        current = key
        fields[key] = ast.literal_eval(value)
    finish()
    return entries


def mo_bytes(entries: dict[str, str]) -> bytes:
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        raw_id, raw_str = key.encode(), entries[key].encode()
        offsets.append((len(ids), len(raw_id), len(strs), len(raw_str)))
        ids += raw_id + b"\0"
        strs += raw_str + b"\0"
    start = 7 * 4 + 16 * len(keys)
    id_table = b"".join(struct.pack("<2I", length, start + at) for at, length, _, _ in offsets)
    str_start = start + len(ids)
    str_table = b"".join(struct.pack("<2I", length, str_start + at) for _, _, at, length in offsets)
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    return header + id_table + str_table + ids + strs


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/django.po into django.mo (no gettext needed)."
    # Run at image build time, before the runtime configuration (keys, database) exists.
    requires_system_checks: list = []

    def handle(self, *args, **options) -> None:
        for locale_path in settings.LOCALE_PATHS:
            for po in sorted(Path(locale_path).glob("*/LC_MESSAGES/*.po")):
                po.with_suffix(".mo").write_bytes(mo_bytes(parse_po(po.read_text("utf-8"))))
                if options["verbosity"]:
                    self.stdout.write(f"Compiled {po}")
