"""Turning service results into what the deployment pages show: labels, sort and page links."""

from __future__ import annotations

from django.http import HttpRequest

from deployments_ui.client import Deployment, Page
from deployments_ui.forms import ToggleForm

SORT_COLUMNS = {
    "flow_name": "Flow",
    "flow_version_iteration": "Version",
    "enabled_at": "Enabled at",
    "created_at": "Created",
}
PAGE_WINDOW = 2


def deployment_label(deployment: Deployment) -> str:
    """'Orders → Shopify v3 in UK Live', in words a person recognises."""
    name = deployment.flow_name or f"Flow version {deployment.flow_version_id}"
    version = f" v{deployment.flow_version_iteration}" if deployment.flow_version_iteration else ""
    return f"{name}{version} in {deployment.environment_name}"


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
        "error": error,
        "flow_version": flow_version,
        "filtered": filtered,
        "sort": query.sort or "",
        "columns": table_columns(query.sort, sortable=not flow_version),
        "page_numbers": page_numbers(page) if page else [],
        "list_url": request.path,
        "next": request.get_full_path(),
        "toggle_form": ToggleForm(),
    }
