"""The documentation stays true: every setting documented, every picture and link present.

docs/configuration.md is written by `make docs` (console/configuration_docs.py); these tests
fail when a setting the code reads is missing from it, when it is out of date, and when a
document names an image or a file that does not exist.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pytest

from console import configuration_docs
from deployments_ui.management.commands.demo_setup import DEMO_USERS

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md"]
    + list((REPO / "docs").glob("*.md"))
)
CONFIGURATION = REPO / "docs" / "configuration.md"
# Pages other branches are writing, linked from README already; the integrator removes each
# name once its page is merged. Any other missing target fails.
ARRIVING = {"docs/glossary.md"}

# What a reader call looks like in the two files, written independently of the page's writer.
READ_CALL = re.compile(
    r"\b(?:env_str|env_bool|env_int|env_float|env_list|env_networks|env_base_url|_int|_float"
    r"|os\.environ\.get)\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']"
)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]*\ssrc=\"([^\"]+)\"|srcset=\"([^\"]+)\"")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|<a\s[^>]*href=\"([^\"]+)\"")


def _named(document: Path, pattern: re.Pattern) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    return [next(group for group in match.groups() if group) for match in pattern.finditer(text)]


def _documented_names() -> set[str]:
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", CONFIGURATION.read_text(), re.MULTILINE))


# Settings


def test_every_setting_the_code_reads_is_in_the_configuration_page():
    read = {
        name
        for source in configuration_docs.SOURCES
        for name in READ_CALL.findall(source.read_text())
    }
    assert len(read) > 80  # the pattern still finds the readers
    assert not read - _documented_names(), "run `make docs` after describing them"


def test_the_configuration_page_is_what_make_docs_writes():
    assert CONFIGURATION.read_text() == configuration_docs.render(), "run `make docs`"


def test_the_page_documents_nothing_the_code_does_not_read():
    assert _documented_names() == set(configuration_docs.all_reads())


def test_a_setting_without_a_meaning_stops_the_writer(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text('LIMIT = env_int("CONSOLE_SOMETHING_NEW", 3)\n')
    found = {**configuration_docs.all_reads(), **configuration_docs.all_reads((settings,))}
    with pytest.raises(configuration_docs.UndocumentedSetting, match="CONSOLE_SOMETHING_NEW"):
        configuration_docs.render(found)


def test_a_changed_default_is_shown_and_a_changed_expression_asks_for_words():
    found = configuration_docs.all_reads()
    found["CONSOLE_BULK_MAX_ITEMS"] = replace(
        found["CONSOLE_BULK_MAX_ITEMS"], default=ast.parse("250", mode="eval").body
    )
    assert "| `CONSOLE_BULK_MAX_ITEMS` | whole number | `250` |" in configuration_docs.render(found)
    found["CONSOLE_WEBHOOK_ALLOW_HTTP"] = replace(
        found["CONSOLE_WEBHOOK_ALLOW_HTTP"], default=ast.parse("TESTING", mode="eval").body
    )
    with pytest.raises(configuration_docs.UndocumentedSetting, match="ALLOW_HTTP"):
        configuration_docs.render(found)


def test_make_docs_check_says_when_the_page_is_stale(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(configuration_docs, "OUTPUT", tmp_path / "configuration.md")
    assert configuration_docs.main(["--check"]) == 1
    assert "make docs" in capsys.readouterr().err
    assert configuration_docs.main([]) == 0
    assert configuration_docs.main(["--check"]) == 0


# Pictures and links


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_image_a_document_names_exists(document):
    for named in _named(document, IMAGE):
        for source in named.split(","):
            target = source.strip().split(" ")[0]
            assert (document.parent / unquote(target)).is_file(), f"{document.name}: {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_inside_the_repository_leads_somewhere(document):
    for target in _named(document, LINK):
        if re.match(r"[a-z]+:", target):
            continue  # a web address or mailto:
        path, _, anchor = target.partition("#")
        file = (document.parent / unquote(path)).resolve() if path else document
        assert file.is_relative_to(REPO), f"{document.name} links outside the repository: {target}"
        relative = str(file.relative_to(REPO))
        if relative in ARRIVING and not file.exists():
            continue
        assert file.exists(), f"{document.name}: {target}"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{document.name}: no heading for {target}"


def _anchors(document: Path) -> set[str]:
    """GitHub's ids for a page's headings."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    headings = re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_docs_cite_nothing_outside_the_repository():
    for document in (REPO / "docs").glob("*.md"):
        text = document.read_text()
        assert not re.search(r"\bissue\s*#?\d+|(?<![\w&/])#\d+\b", text, re.IGNORECASE), document
        assert "../shared" not in text and "STYLE.md" not in text and "/work/" not in text


# README


def test_readme_is_short_and_shows_the_console():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 130
    pictures = _named(REPO / "README.md", IMAGE)
    assert any("deployments" in picture for picture in pictures)
    assert any("audit" in picture for picture in pictures)
    assert "make test" in readme and "make run" in readme


def test_readme_lists_every_demo_sign_in():
    table = re.findall(r"^\| `(\w+)` \| `demo-password` \|", (REPO / "README.md").read_text(), re.M)
    assert {username for username, *_ in DEMO_USERS} <= set(table)
