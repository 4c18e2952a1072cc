"""Messages shown in the reader's language and recorded in the console's own.

A message is words: a function that says it in whichever language is active. `later` says them
now (in the reader's language, during a request: a page, a header, a toast, JSON show that) and
keeps the words, so that whatever is stored (the audit trail, a job's row) says them again in the
console's own language with `recorded`. `both` says them at once, both ways. Stored text is
never translated when it is stored.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, trans_real


class Words(str):
    """Text said in the language active when it was made (what a page, a header or JSON shows),
    that says itself again in the language active whenever it is turned into text (`str()`, or
    put into other words): so `recorded` says it in the console's own language. It pickles and
    copies as plain text."""

    _words: Callable[[], str]

    def __new__(cls, words: Callable[[], str]) -> Words:
        text = super().__new__(cls, words())
        text._words = words
        return text

    def __str__(self) -> str:
        return self._words()

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str.__str__(self),))


def later(words: Callable[[], str]) -> str:
    """The message, said now in the active language, and again whenever it is said (recorded)."""
    return Words(words)


def recorded(message: Any) -> Any:
    """A message as it is stored: in the console's own language. Anything but words as is."""
    if not isinstance(message, Words | Promise):
        return message
    with translation.override(settings.LANGUAGE_CODE):
        return str.__str__(str(message))


def both(words: Callable[[], str]) -> tuple[str, str]:
    """A message in the reader's language (shown), and in the console's own (recorded)."""
    with translation.override(settings.LANGUAGE_CODE):
        stored = words()
    return words(), stored


def said(message: str, **values: Any) -> str:
    """`message` (the console's own words, with %(name)s for `values`) said `later`: in the
    reader's language when shown, in the console's own when recorded."""
    return later(lambda: gettext(message) % values if values else gettext(message))


_found_quickly: weakref.WeakSet[Any] = weakref.WeakSet()


def without_empty_fallbacks(code: str) -> None:
    """The language's catalogue without the fallbacks that hold nothing but their header.

    Python's gettext puts every app's `en` catalogue behind its `en_GB` one (Django's own and each
    contrib app's: six for British English), and a message with no British wording of its own,
    which is nearly every message, is looked for in each of them: about 6 µs instead of 2, for
    each of the 800 words a 100-row list says. A catalogue with only its header changes no word.
    Done once per catalogue, when a request first says something in its language.
    """
    node: Any = trans_real.translation(code)
    if node in _found_quickly:
        return
    _found_quickly.add(node)
    while (fallback := getattr(node, "_fallback", None)) is not None:
        catalogue = getattr(fallback, "_catalog", None)
        if isinstance(catalogue, dict) and set(catalogue) <= {""}:
            node._fallback = fallback._fallback
        else:
            node = fallback
