"""The catalogues behind every word: English words are found without walking the empty English
catalogues Python's gettext chains behind British English, and no word changes for it."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import trans_real

from deployments_ui.core.words import without_empty_fallbacks


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    translation.deactivate()


def chain(code: str) -> list:
    node, found = trans_real.translation(code), []
    while node is not None:
        found.append(node)
        node = getattr(node, "_fallback", None)
    return found


def empty_ones(code: str) -> list:
    return [
        node
        for node in chain(code)[1:]
        if isinstance(getattr(node, "_catalog", None), dict) and set(node._catalog) <= {""}
    ]


@pytest.mark.parametrize(("language", "code"), [("en-GB,en", "en-gb"), ("de", "de")])
def test_a_request_leaves_no_empty_catalogue_in_its_chain(client, settings, language, code):
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)  # the catalogues are built again
    assert empty_ones("en-gb")
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 200
    assert ("Anmelden" in page.content.decode()) == (code == "de")
    assert not empty_ones(code) and not empty_ones("en-gb")


def test_pruning_changes_no_word(settings):
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)  # the catalogues are built again
    assert empty_ones("en-gb")

    def words(code: str) -> list[str]:
        with translation.override(code):
            return [
                translation.gettext("Enabled by"),
                translation.gettext("Password"),
                translation.ngettext("%(n)d day", "%(n)d days", 2),
                translation.pgettext("month name", "May"),
            ]

    unpruned = {code: words(code) for code in ("en-gb", "de")}
    for code in ("en-gb", "de"):
        without_empty_fallbacks(code)
    assert {code: words(code) for code in ("en-gb", "de")} == unpruned
    assert not empty_ones("en-gb") and not empty_ones("de")
    assert unpruned["de"][:2] == ["Aktiviert von", "Passwort"]
    assert unpruned["en-gb"][:3] == ["Enabled by", "Password", "%(n)d days"]
