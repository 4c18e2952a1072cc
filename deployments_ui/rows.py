"""The deployment list's rows, rendered with Jinja2.

A 100-row list prints about 2,500 values, and Django's template language spends about 3 µs on
each; the same row in Jinja2 (compiled to Python) takes about a third of that. The row lives in
`templates/jinja2/deployments_ui/_deployment_rows.html` and prints exactly what the Django
template printed (tests/test_rows.py compares the two): values are escaped the Django way
(`conditional_escape`), so `'` is `&#x27;` and safe strings from the presenters stay as they are.
The Django templates place the rows with the `deployment_rows` tag (`console_tags`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from html import escape

from django.conf import settings
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext
from jinja2 import Environment, FileSystemLoader, Template

ROWS_TEMPLATE = "deployments_ui/_deployment_rows.html"

# The list's columns, in the order a person scans them (on a phone each row is a card: these four
# together, then the rest, each under its heading): the field a sortable one sorts by
# (`presenters.SORT_KEYS`), and its heading.
COLUMNS = (
    ("flow_name", gettext_lazy("Flow")),
    ("", gettext_lazy("Environment")),
    ("", gettext_lazy("State")),
    ("", gettext_lazy("Actions")),
    ("flow_version_iteration", gettext_lazy("Version")),
    ("", gettext_lazy("Package")),
    ("", gettext_lazy("Priority")),
    ("enabled_at", gettext_lazy("Enabled at")),
    ("", gettext_lazy("Enabled by")),
    ("created_at", gettext_lazy("Created")),
)
LABELS = tuple(label for _, label in COLUMNS)


def labels() -> list[str]:
    """The columns' headings in the reader's language."""
    return [str(label) for label in LABELS]


def _escaped(value: object) -> object:
    """What Django's template language prints for a value: escaped unless marked safe (Django's
    `conditional_escape` without its lazy-string wrapper, which costs more than the escaping).
    Most values are plain words with nothing to escape: they are printed as they are."""
    if type(value) is str:
        plain = "&" not in value and "<" not in value and ">" not in value
        return value if plain and '"' not in value and "'" not in value else escape(value)
    if hasattr(value, "__html__"):
        return value
    return escape(str(value))


@functools.cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(settings.BASE_DIR / "templates" / "jinja2"),
        # Every value the template prints goes through `finalize`, which escapes it the Django
        # way. Jinja2's autoescape would escape its result a second time (for nothing: it is
        # safe by then) and take half the rendering time; tests/test_rows.py checks the escaping.
        autoescape=False,  # noqa: S701
        finalize=_escaped,
        auto_reload=settings.DEBUG,
        extensions=["jinja2.ext.i18n"],
    )
    # The row's own words in the reader's language, from the same catalogue as Django's.
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    return environment.get_template(ROWS_TEMPLATE)


def _translator():
    """The row's `_()` for one rendering: each message looked up once, not once per row (a
    100-row list asks for the same few words about 500 times), formatted as Jinja2's newstyle
    gettext does (always `%`-formatted, with the keyword arguments)."""
    known: dict[str, str] = {}

    def translate(message: str, **variables: object) -> str:
        text = known.get(message)
        if text is None:
            text = known[message] = gettext(message)
        return text % variables

    return translate


def render_rows(
    rows: Iterable[dict],
    *,
    can_toggle: bool,
    csrf_token: str,
    next_url: str,
    feedback: str = "",
    bulk_choosable: bool = False,
) -> SafeString:
    """The `<tr>` of each row (`presenters.deployment_row`), with its Enable/Disable form when
    the person may toggle (and its bulk checkbox where the list offers bulk changes);
    `feedback` marks a row that has just changed."""
    html = _template().render(
        rows=rows,
        can_toggle=can_toggle,
        csrf_token=csrf_token,
        next=next_url,
        feedback=feedback,
        bulk_choosable=bulk_choosable,
        labels=labels(),
        _=_translator(),
    )
    return SafeString(html)
