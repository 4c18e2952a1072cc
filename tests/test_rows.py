"""The list rows rendered with Jinja2 print exactly what the Django template printed.

`tests/templates/reference_deployment_row.html` is the row as it was in Django's template
language (it still includes the Django Enable/Disable form and schedule badges): a change to
either that is not made in `templates/jinja2/deployments_ui/_deployment_rows.html` fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.template import engines

from deployments_ui.presenters import deployment_row
from deployments_ui.rows import LABELS, render_rows
from tests.factories import deployment

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).parent / "templates" / "reference_deployment_row.html"
TRICKY = "Orders & \"Returns\" <b>'UK'</b> {{ x }} {% y %}"


def reference(rows: list[dict], **context) -> str:
    loop = "{% load i18n %}{% for row in rows %}" + REFERENCE.read_text() + "{% endfor %}"
    template = engines["django"].from_string(loop)
    return template.render({"rows": rows, **context})


def rows() -> list[dict]:
    live = deployment_row(deployment())
    tricky = deployment_row(
        deployment(
            id=43,
            name=TRICKY,
            enabled_at=None,
            enabled_by=None,
            priority=None,
            package=None,
            enabledBy=None,
            virtualEnvironment={"id": 4, "name": TRICKY, "type": "test"},
        )
    )
    bare = deployment_row(deployment(id=44, **{"global": True}, virtualEnvironment=None))
    bare["flow_name"] = ""
    bare["version"] = ""
    frozen = {**live, "id": 45, "frozen": True, "needs_approval": True, "confirm_name": TRICKY}
    unsure = {**tricky, "id": 46, "environment_type": "", "live": False}
    live["schedules"] = [{"id": 1, "text": "Disables at 18:00 (asked by O'Brien & <Co>)"}]
    tricky["schedules"] = [{"id": 2, "text": "a"}, {"id": 3, "text": "b"}]
    for row in (bare, frozen, unsure):
        row["schedules"] = []
    return [live, tricky, bare, frozen, unsure]


@pytest.mark.parametrize("can_toggle", [True, False])
@pytest.mark.parametrize("feedback", ["", "Disabled."])
@pytest.mark.parametrize("bulk_choosable", [True, False])
def test_the_jinja2_rows_print_what_the_django_rows_printed(can_toggle, feedback, bulk_choosable):
    context = {
        "can_toggle": can_toggle,
        "bulk_choosable": bulk_choosable,
        "csrf_token": "token&'\"",
        "next": '/deployments/?q=a&b="c"',
        "feedback": feedback,
        "labels": LABELS,
    }
    shown = rows()
    expected = reference(shown, **context)
    assert "&amp;" in expected and "&#x27;" in expected and "&quot;" in expected
    assert "<b>" not in expected and "&lt;b&gt;" in expected
    assert ("data-needs-approval" in expected) is can_toggle
    assert ('class="row-changed"' in expected) is bool(feedback)
    assert ('form="bulk-form"' in expected) is (can_toggle and bulk_choosable)
    assert (
        render_rows(
            shown,
            can_toggle=can_toggle,
            csrf_token=context["csrf_token"],
            next_url=context["next"],
            feedback=feedback,
            bulk_choosable=bulk_choosable,
        )
        == expected
    )


def test_the_row_fragment_is_the_same_row(rf):
    from django.template.loader import render_to_string

    row = rows()[0]
    context = {"row": row, "can_toggle": True, "csrf_token": "t", "next": "/n", "feedback": "x"}
    fragment = render_to_string("deployments_ui/_deployment_row.html", context)
    assert fragment == reference([row], labels=LABELS, **context)
    assert fragment.startswith('<tr id="deployment-row-42" class="row-changed">')
