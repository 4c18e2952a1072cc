"""Messages shown in the reader's language and recorded in the console's own.

A message is words: a function that says it in whichever language is active. `later` keeps the
words unsaid until the message is shown (a page, a header, a toast says them in the reader's
language); whatever is stored (the audit trail, a job's row) says them in the console's own
language with `recorded`. `both` says them at once, both ways. Stored text is never translated
when it is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext


def later(words: Callable[[], str]) -> str:
    """The message, said in the language active when it is shown (or recorded)."""
    return lazy(words, str)()


def recorded(message: Any) -> Any:
    """A message as it is stored: in the console's own language. Anything but words as is."""
    if not isinstance(message, Promise):
        return message
    with translation.override(settings.LANGUAGE_CODE):
        return str(message)


def both(words: Callable[[], str]) -> tuple[str, str]:
    """A message in the reader's language (shown), and in the console's own (recorded)."""
    with translation.override(settings.LANGUAGE_CODE):
        stored = words()
    return words(), stored


def said(message: str, **values: Any) -> str:
    """`message` (the console's own words, with %(name)s for `values`) said `later`: in the
    reader's language when shown, in the console's own when recorded."""
    return later(lambda: gettext(message) % values if values else gettext(message))
