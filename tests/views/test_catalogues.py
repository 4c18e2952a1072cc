"""The catalogues behind every word: English words are found without walking the empty English
catalogues Python's gettext chains behind British English, and no word changes for it."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import trans_real

from deployments_ui.core.words import without_empty_fallbacks


@pytest.fixture(autouse=True)
def _as_the_console_leaves_them():
    yield
    translation.deactivate()
    without_empty_fallbacks()


def chain(code: str) -> list:
    node, found = trans_real.translation(code), []
    while node is not None:
        found.append(node)
        node = getattr(node, "_fallback", None)
    return found


def empty(catalogue) -> bool:
    return isinstance(catalogue, dict) and set(catalogue) <= {""}


@pytest.mark.parametrize("code", ["en-gb", "de"])
def test_no_empty_catalogue_is_left_in_the_chain(code):
    assert not [node for node in chain(code)[1:] if empty(getattr(node, "_catalog", None))]


def test_pruning_changes_no_word(settings):
    messages = [("Enabled by", "Aktiviert von"), ("Password", "Passwort")]
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)  # the catalogues are built again
    assert any(empty(getattr(node, "_catalog", None)) for node in chain("en-gb")[1:])
    unpruned = {}
    for code in ("en-gb", "de"):
        with translation.override(code):
            unpruned[code] = [translation.gettext(english) for english, _ in messages]
            unpruned[code].append(translation.ngettext("%(n)d day", "%(n)d days", 2))
            unpruned[code].append(translation.pgettext("month name", "May"))
    without_empty_fallbacks()
    for code in ("en-gb", "de"):
        with translation.override(code):
            pruned = [translation.gettext(english) for english, _ in messages]
            pruned.append(translation.ngettext("%(n)d day", "%(n)d days", 2))
            pruned.append(translation.pgettext("month name", "May"))
        assert pruned == unpruned[code]
    assert unpruned["de"][:2] == [german for _, german in messages]
    assert unpruned["en-gb"][:3] == ["Enabled by", "Password", "%(n)d days"]
