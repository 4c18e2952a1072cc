"""Turning service results into what the deployment pages show: labels, sort and page links."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from deployments_ui.forms import ToggleForm
from deployments_ui.patchworks import Deployment, Page
from deployments_ui.templatetags.console_tags import (
    deployment_url,
    flow_version_url,
    toggle_url,
    when,
)

SORT_COLUMNS = {
    "flow_name": "Flow",
    "flow_version_iteration": "Version",
    "enabled_at": "Enabled at",
    "created_at": "Created",
}
PAGE_WINDOW = 2
# The list's filter parameters, carried to a bulk change's preview.
BULK_FILTER_FIELDS = ("q", "environment", "package", "flow", "name", "scope", "sort")


def deployment_label(deployment: Deployment) -> str:
    """'Orders → Shopify v3 in UK Live', in words a person recognises."""
    name = deployment.flow_name or f"Flow version {deployment.flow_version_id}"
    version = f" v{deployment.flow_version_iteration}" if deployment.flow_version_iteration else ""
    return f"{name}{version} in {deployment.environment_name}"


def toggle_question(deployment: Deployment, *, enable: bool) -> str:
    """The confirmation's question, naming the deployment and its environment; stronger for live."""
    live = deployment.environment_type == "live"
    if enable:
        effect = "It will start running on its schedule" + (", with real data" if live else "")
    else:
        effect = "It will stop running" + (", and real data will stop flowing" if live else "")
    verb = "Enable" if enable else "Disable"
    return f"{verb} {deployment_label(deployment)}? {effect}."


def toggle_context() -> dict:
    """What every Enable/Disable confirmation on a page shares: how the reason field reads."""
    reason = ToggleForm().fields["reason"]
    return {"reason_label": reason.label, "reason_required": reason.required}


def deployment_row(deployment: Deployment) -> dict:
    """What a list row and its Enable/Disable confirmation show, worked out once.

    A plain dict because the 100-row list renders a hundred of them and the template engine
    reads dict keys fastest; the row fragment that enable/disable answers with uses it too.
    """
    version = f"v{deployment.flow_version_iteration}" if deployment.flow_version_iteration else ""
    enable = not deployment.is_enabled
    return {
        "id": deployment.id,
        "detail_url": deployment_url(deployment, "deployment-detail"),
        "flow_name": deployment.flow_name,
        "action": "enable" if enable else "disable",
        "question": toggle_question(deployment, enable=enable),
        "version": version,
        "flow_version_id": deployment.flow_version_id,
        "flow_version_url": flow_version_url(deployment),
        "environment_name": deployment.environment_name,
        "environment_type": deployment.environment_type,
        "live": deployment.environment_type == "live",
        "package_name": deployment.package.name if deployment.package else "",
        "priority": deployment.priority,
        "enabled": deployment.is_enabled,
        "enabled_at": when(deployment.enabled_at),
        "enabled_by": deployment.enabled_by.name if deployment.enabled_by else "",
        "created_at": when(deployment.created_at),
        "toggle_url": toggle_url(deployment),
        "schedule_url": deployment_url(deployment, "deployment-schedule"),
    }


def with_schedule_badges(rows: list[dict]) -> list[dict]:
    """Add each row's pending scheduled changes ("Enables at 18:00 (asked by Ana)"): one local
    query for all the rows, no upstream request."""
    from deployments_ui.schedules.services import badges_for

    badges = badges_for([row["id"] for row in rows])
    for row in rows:
        row["schedules"] = badges.get(str(row["id"]), [])
    return rows


COLUMNS = (
    "flow_name",
    "flow_version_iteration",
    "Environment",
    "Package",
    "Priority",
    "State",
    "enabled_at",
    "Enabled by",
    "created_at",
    "Actions",
)


def table_columns(current: str | None, *, sortable: bool = True) -> list[dict]:
    """The table's headers; sortable ones carry the sort a click asks for and the direction."""
    columns = []
    for column in COLUMNS:
        if column not in SORT_COLUMNS:
            columns.append({"label": column})
            continue
        direction = None
        if current == column:
            direction = "ascending"
        elif current == f"-{column}":
            direction = "descending"
        header = {"label": SORT_COLUMNS[column], "direction": direction}
        if sortable:
            header["next"] = f"-{column}" if direction == "ascending" else column
        columns.append(header)
    return columns


def page_numbers(page: Page) -> list[int | None]:
    """Page links around the current page, with None where numbers are skipped."""
    wanted = {1, page.last_page}
    wanted.update(range(page.current_page - PAGE_WINDOW, page.current_page + PAGE_WINDOW + 1))
    numbers: list[int | None] = []
    for number in sorted(n for n in wanted if 1 <= n <= page.last_page):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def list_context(request: HttpRequest, *, form, page, error, flow_version: str = "") -> dict:
    query = form.to_query()
    filtered = bool(query.filters)
    return {
        "form": form,
        "page": page,
        "rows": with_schedule_badges([deployment_row(item) for item in page.items] if page else []),
        "error": error,
        "flow_version": flow_version,
        "filtered": filtered,
        "sort": query.sort or "",
        "columns": table_columns(query.sort, sortable=not flow_version),
        "page_numbers": page_numbers(page) if page else [],
        "list_url": request.path,
        "next": request.get_full_path(),
        # Bulk changes: the row checkboxes, and the filter carried to the preview.
        "bulk_choosable": not flow_version,
        "bulk_filters": [
            (name, value)
            for name in BULK_FILTER_FIELDS
            for value in request.GET.getlist(name)
            if value and len(value) <= 200
        ],
        "bulk_cap": settings.CONSOLE_BULK_MAX_ITEMS,
        **toggle_context(),
    }
