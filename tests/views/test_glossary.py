"""The pages speak the glossary's words: no main page, for any role, shows a word that
docs/glossary.md lists under "Words the pages do not use"."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.deployments import deployment_url, find_deployment

pytestmark = pytest.mark.django_db

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
ROLES = ("viewer", "operator", "editor", "admin_user")


def banned_words() -> list[tuple[str, re.Pattern[str]]]:
    """The left column of the glossary's table of words the pages do not use."""
    section = GLOSSARY.read_text().split("## Words the pages do not use", 1)[1]
    words = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if (
            not line.startswith("|")
            or cells[0] in ("Do not say", "---")
            or cells[0].startswith("-")
        ):
            continue
        word = cells[0]
        if len(word) > 2 and word.startswith("/") and word.endswith("/"):
            pattern = re.compile(word[1:-1], re.IGNORECASE)
        else:
            pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        words.append((word, pattern))
    return words


def shown_text(page: str) -> str:
    """What a person reads or hears: the text, and the labels assistive technology reads."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    labels = re.findall(
        r'(?:aria-label|title|placeholder|alt|data-question|data-label)="([^"]*)"', page
    )
    text = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *labels]))


def main_pages(client) -> list[str]:
    """The pages the menu offers (Django's admin is not ours), and a deployment's page."""
    listing = client.get("/deployments/").content.decode()
    menu = listing.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    pages = [href for href in re.findall(r'href="([^"]+)"', menu) if not href.startswith("/admin/")]
    detail = re.search(r'href="(/flow-versions/\d+/deployments/\d+/)"', listing)
    assert detail, "the list shows no deployment"
    return [*pages, detail.group(1)]


def test_the_glossary_lists_words_to_avoid():
    words = [word for word, _ in banned_words()]
    assert "drift" in words and "break glass" in words and len(words) >= 10


@pytest.mark.parametrize("role", ROLES)
def test_no_main_page_uses_a_banned_word(client, request, on_sandbox, operator, role):
    # Something in the trail, so that the history and the audit log have sentences to show.
    client.force_login(operator)
    item = find_deployment(on_sandbox, enabled=True, live=False)
    assert client.post(deployment_url(item, "disable/"), {"reason": "glossary"}).status_code == 302
    client.force_login(request.getfixturevalue(role))
    pages = [*main_pages(client), deployment_url(item), "/audit/?deployment=" + str(item["id"])]
    banned = banned_words()
    assert len(pages) >= 5
    problems = []
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = shown_text(response.content.decode())
        for word, pattern in banned:
            for match in pattern.finditer(text):
                around = " ".join(text[max(0, match.start() - 60) : match.end() + 60].split())
                problems.append(f"{url}: {word!r} in “{around}”")
    assert not problems, f"as {role} (docs/glossary.md says what to say):\n" + "\n".join(problems)
