"""Writes docs/configuration.md from the settings the console actually reads.

`make docs` runs it (`python -m console.configuration_docs`; `--check` only compares). The
names, kinds and defaults come from the source of console/settings.py (its env_* readers) and
gunicorn.conf.py (its _int, _float and os.environ.get), read as Python syntax, never imported;
the meanings come from console/setting_meanings.py. A setting read without a meaning, a meaning
for a setting nobody reads, or a default that is not a plain value and has no wording for its
exact expression stops it, so the page cannot drift from the code.
"""

from __future__ import annotations

import ast
import operator
import sys
from dataclasses import dataclass
from pathlib import Path

from console import setting_meanings

REPO = Path(__file__).resolve().parent.parent
SOURCES = (REPO / "console" / "settings.py", REPO / "gunicorn.conf.py")
OUTPUT = REPO / "docs" / "configuration.md"

# The reader a setting goes through says what kind of value it takes.
KINDS = {
    "env_str": "text",
    "env_bool": "true or false",
    "env_int": "whole number",
    "env_float": "number",
    "env_list": "comma list",
    "env_networks": "addresses or CIDRs, comma list",
    "env_base_url": "address (host root)",
    "_int": "whole number",
    "_float": "number",
    "os.environ.get": "text",
}
NO_DEFAULT = "—"
_ARITHMETIC = {ast.Mult: operator.mul, ast.Add: operator.add, ast.Sub: operator.sub}


class UndocumentedSetting(Exception):
    """The settings and their meanings disagree; the message says how."""


@dataclass(frozen=True)
class Read:
    """One setting as the source reads it."""

    name: str
    kind: str
    default: ast.expr | None
    source: str


def _reader(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in KINDS:
        return func.id
    if isinstance(func, ast.Attribute) and ast.unparse(func) in KINDS:
        return ast.unparse(func)
    return None


def reads(path: Path) -> list[Read]:
    """Every setting the file reads through a reader, in the order it reads them."""
    found: dict[str, Read] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        reader, first = _reader(node), node.args[0]
        if (
            reader is None
            or not isinstance(first, ast.Constant)
            or not isinstance(first.value, str)
        ):
            continue  # the readers' own bodies read a variable name
        default = node.args[1] if len(node.args) > 1 else None
        found.setdefault(first.value, Read(first.value, KINDS[reader], default, path.name))
    return list(found.values())


def all_reads(sources: tuple[Path, ...] = SOURCES) -> dict[str, Read]:
    """Each setting once, from the first source that reads it."""
    merged: dict[str, Read] = {}
    for path in sources:
        for read in reads(path):
            merged.setdefault(read.name, read)
    return merged


def _value(node: ast.expr) -> object:
    """A default that is a plain value (numbers may be multiplied); ValueError otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError(ast.unparse(node))


def _shown(value: object) -> str:
    if value is None or value == "":
        return NO_DEFAULT
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def default_text(read: Read) -> str:
    """How the page shows the default: the value itself, or the wording for its expression."""
    if read.default is None:
        return NO_DEFAULT
    expression = ast.unparse(read.default)
    worded = setting_meanings.DEFAULTS.get(read.name)
    if worded is not None:
        if ast.unparse(ast.parse(worded[0], mode="eval").body) != expression:
            raise UndocumentedSetting(
                f"the default of {read.name} is now `{expression}`; console/setting_meanings.py "
                f"words `{worded[0]}`: say what the new default is"
            )
        return worded[1]
    try:
        return _shown(_value(read.default))
    except ValueError:
        raise UndocumentedSetting(
            f"the default of {read.name} is `{expression}`: add its wording to DEFAULTS in "
            "console/setting_meanings.py"
        ) from None


def _check_coverage(found: dict[str, Read]) -> None:
    described = [name for rows in setting_meanings.SECTIONS.values() for name in rows]
    unread = [name for name in [*described, *setting_meanings.DEFAULTS] if name not in found]
    problems = [f"{name} is read but has no meaning" for name in found if name not in described]
    problems += [f"{name} is described but nothing reads it" for name in unread]
    twice = {name for name in described if described.count(name) > 1}
    problems += [f"{name} is described twice" for name in sorted(twice)]
    if problems:
        raise UndocumentedSetting(
            "console/setting_meanings.py and the settings disagree:\n  " + "\n  ".join(problems)
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(found: dict[str, Read] | None = None) -> str:
    """The whole page."""
    found = all_reads() if found is None else found
    _check_coverage(found)
    lines = [setting_meanings.INTRO.strip(), ""]
    for title, rows in setting_meanings.SECTIONS.items():
        lines += [f"## {title}", "", "| setting | value | default | meaning |", "|---|---|---|---|"]
        for name, meaning in rows.items():
            read = found[name]
            cells = [f"`{name}`", read.kind, default_text(read), meaning]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
    lines += [setting_meanings.OUTRO.strip(), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        page = render()
    except UndocumentedSetting as problem:
        print(f"docs/configuration.md not written: {problem}", file=sys.stderr)
        return 1
    if "--check" in argv:
        if OUTPUT.exists() and OUTPUT.read_text() == page:
            return 0
        print("docs/configuration.md is out of date: run `make docs`", file=sys.stderr)
        return 1
    OUTPUT.write_text(page)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
