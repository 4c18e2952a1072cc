"""Template tags and filters for the deployment pages: thin wrappers over `formats` and
`presenters`, where the work is done."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from deployments_ui import formats, presenters
from deployments_ui.accounts import access
from deployments_ui.rows import render_rows

register = template.Library()
register.simple_tag(formats.when, name="when")
register.filter("priority_words", formats.priority_words)
register.filter("deployment_url", formats.deployment_url)
register.filter("toggle_url", formats.toggle_url)
register.filter("flow_version_url", formats.flow_version_url)
register.filter("deployment_label", presenters.deployment_label)

NOT_FILTERS = frozenset({"sort", "page", "per_page"})


@register.filter
def active_filters(form) -> int:
    """How many of a filter form's filters are set (sort and paging are not filters)."""
    if not form.is_bound:
        return 0
    names = [name for name in form.fields if name not in NOT_FILTERS]
    return sum(1 for name in names if str(form.data.get(name, "")).strip())


@register.simple_tag(takes_context=True)
def deployment_rows(context, rows) -> SafeString:
    """The list's rows (one row dict, or a list of them) from the Jinja2 row template."""
    rows = [rows] if isinstance(rows, dict) else rows
    can_toggle = bool(context.get("can_toggle"))
    request = context.get("request")
    if can_toggle and request is not None:
        for row in rows:
            row["may_toggle"] = access.may_act(request.user, row["action"], row.get("place"))
    return render_rows(
        rows,
        can_toggle=can_toggle,
        csrf_token=str(context.get("csrf_token") or ""),
        next_url=context.get("next") or "",
        feedback=context.get("feedback") or "",
        bulk_choosable=bool(context.get("bulk_choosable")),
    )


# Shown, labelled, only on an audit record's own page.
ID_LABELS = frozenset({"Record numbers", "Support reference"})


@register.filter
def without_ids(rows) -> list:
    """A list's or history's rows of recorded values, without ids."""
    return [row for row in rows if not (row[0].endswith(" id") or row[0] in ID_LABELS)]
