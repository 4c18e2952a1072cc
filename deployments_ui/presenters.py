"""Turning service results into what the deployment pages show: labels, sort and page links."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext

from deployments_ui.audit.entries import entry_queryset
from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.people import actor_display
from deployments_ui.changes.gate import needs_reason
from deployments_ui.changes.models import ChangeRequest
from deployments_ui.changes.rules import freeze_in_force, name_to_confirm, rule_for
from deployments_ui.core.identity import DeploymentRef, EnvironmentRef
from deployments_ui.core.vocabulary import ALL_ENVIRONMENTS
from deployments_ui.drift.counts import enabled_seen
from deployments_ui.flow_health import (
    Health,
    HealthBoard,
    Kind,
    LastChange,
    OneDeployment,
    after_change,
    ago,
    change_verb,
    explain,
    recall,
    span,
)
from deployments_ui.formats import (
    deployment_urls,
    flow_version_url,
    page_clock,
    priority_words,
    when,
)
from deployments_ui.forms.deployments import LIST_FILTER_PARAMETERS, ToggleForm
from deployments_ui.patchworks import SORT_KEYS, Deployment, FlowRun, allowance_told
from deployments_ui.rows import COLUMNS
from deployments_ui.schedules.services import badges_for

PAGE_WINDOW = 2
# The list's filter parameters, carried to a bulk change's preview.


def deployment_label(deployment, ref: DeploymentRef | None = None) -> str:
    """'Orders → Shopify v3 in UK Live', or 'the global deployment of Orders v2', in words a
    person recognises (capitalise it at the start of a sentence): `DeploymentRef.label`, with
    what a page knows instead of a missing flow name (`ref`: the deployment's, if known)."""
    ref = ref or DeploymentRef.of(deployment)
    if not ref.flow_name and isinstance(deployment, Deployment):
        ref = replace(ref, flow_name=deployment.flow_label)
    return ref.label()


def toggle_question(deployment: Deployment, *, enable: bool, label: str = "") -> str:
    """The confirmation's question, naming the deployment and its environment; stronger for live."""
    live = deployment.environment_type == "live"
    # Patchworks did not say whether the environment is live: warn as if it were.
    unsure = not live and deployment.environment_type != "test" and not deployment.is_global
    live = live or unsure
    effect = gettext(TOGGLE_EFFECTS[(enable, live)])
    if unsure:
        effect = gettext(
            "%(effect)s (Patchworks did not say whether this environment is live: treat it as live)"
        ) % {"effect": effect}
    words = {"name": label or deployment_label(deployment), "effect": effect}
    if enable:
        return gettext("Enable %(name)s? %(effect)s.") % words
    return gettext("Disable %(name)s? %(effect)s.") % words


# The confirmation's effect, by (enable, live): translation markers.
TOGGLE_EFFECTS = {
    (True, False): gettext_noop("It will start running on its schedule"),
    (True, True): gettext_noop("It will start running on its schedule, with real data"),
    (False, False): gettext_noop("It will stop running"),
    (False, True): gettext_noop("It will stop running, and real data will stop flowing"),
}


def console_enabler(deployment: Deployment, history: list) -> str:
    """Who enabled the deployment through the console, if its own audit trail knows: the
    newest change of its enabled state, if that was a console enable (or an enabled create)
    that succeeded. Patchworks' own `enabledBy` may name only the owner of a company key."""
    if not deployment.is_enabled:
        return ""
    for entry in history:  # newest first
        if entry.is_external and entry.action in {"enable", "disable", "create"}:
            return ""
        if entry.outcome != "succeeded":
            continue
        if entry.action == "enable":
            return entry.actor
        if entry.action == "create":
            return entry.actor if _created_enabled(entry) else ""
        if entry.action == "disable":
            return ""
    return ""


def _created_enabled(entry) -> bool:
    return ("State", "enabled") in entry.values


def toggle_context(deployment: Deployment | None = None) -> dict:
    """How the reason field of an Enable/Disable confirmation reads: required by setting, and
    always for a live deployment."""
    reason = ToggleForm().fields["reason"]
    required = reason.required or (deployment is not None and needs_reason(deployment))
    return {
        "reason_label": gettext("Reason") if required else reason.label,
        "reason_required": required,
    }


def row_controls(deployment, known: dict | None = None) -> dict:
    """For a row's Enable/Disable: the name the dialog asks for, approval, a reason, a freeze.

    `known`: the answers a list has already worked out, by environment (rows share a handful)."""
    ref = EnvironmentRef.of(deployment)
    if known is None:
        return _controls_of(ref)
    controls = known.get(ref)
    if controls is None:
        controls = known[ref] = _controls_of(ref)
    return controls


def _controls_of(ref: EnvironmentRef) -> dict:
    return {
        "confirm_name": name_to_confirm(ref),
        "needs_approval": rule_for(ref).needs_approval,
        "reason_required": needs_reason(ref),
        "frozen": bool(freeze_in_force(ref)),
    }


def deployment_row(
    deployment: Deployment, clock: tuple | None = None, known: dict | None = None
) -> dict:
    """What a list row and its Enable/Disable confirmation show, worked out once.

    A plain dict because the 100-row list renders a hundred of them and the template engine
    reads dict keys fastest; the row fragment that enable/disable answers with uses it too.
    A list passes one `clock` (`page_clock()`) and one `known` (a dict) for all its rows.
    """
    clock = clock or page_clock()
    known = {} if known is None else known
    enable = not deployment.is_enabled
    ref = DeploymentRef.of(deployment)
    label = deployment_label(deployment, ref)
    toggle = "deployment-enable" if enable else "deployment-disable"
    urls = deployment_urls(deployment, ("deployment-detail", "deployment-schedule", toggle))
    return {
        "id": deployment.id,
        "detail_url": urls["deployment-detail"],
        "flow_name": deployment.flow_label,
        "action": "enable" if enable else "disable",
        "question": toggle_question(deployment, enable=enable, label=label),
        "version": _version_words(deployment.flow_version_iteration, known),
        "flow_version_id": deployment.flow_version_id,
        "flow_version_url": flow_version_url(deployment),
        "label": label,
        "environment_name": (
            gettext(ALL_ENVIRONMENTS) if deployment.is_global else deployment.environment_name
        ),
        "is_global": deployment.is_global,
        "environment_type": deployment.environment_type,
        "live": deployment.environment_type == "live",
        "package_name": deployment.package.name if deployment.package else "",
        "priority": deployment.priority,
        "priority_text": priority_words(deployment.priority),
        "enabled": deployment.is_enabled,
        "enabled_at": when(deployment.enabled_at, clock=clock),
        "enabled_by": deployment.enabled_by.name if deployment.enabled_by else "",
        "created_at": when(deployment.created_at, clock=clock),
        "toggle_url": urls[toggle],
        # Where it is, for the person's scope (accounts.scopes): the tag decides the button.
        "place": ref,
        "schedule_url": urls["deployment-schedule"],
        # Change control: the name the confirmation asks for; a frozen row asks on its own page.
        **row_controls(deployment, known),
    }


def _version_words(iteration: int | None, known: dict) -> str:
    """'version 3' in the reader's language (a list's rows share the translation)."""
    words = known.get("version words")
    if words is None:
        words = known["version words"] = (
            gettext("version %(number)d"),
            gettext("number not available"),
        )
    return words[0] % {"number": iteration} if iteration else words[1]


def with_schedule_badges(rows: list[dict]) -> list[dict]:
    """Add each row's pending scheduled changes ("Enables at 18:00 (asked by Ana)") and the
    change request it waits for: two local queries for all the rows, no upstream request."""
    ids = [str(row["id"]) for row in rows]
    badges = badges_for(ids)
    waiting = waiting_requests(ids)
    last = last_changes(ids)
    for row in rows:
        row["schedules"] = badges.get(str(row["id"]), [])
        row["waiting"] = waiting.get(str(row["id"]))
        row["last_change"] = last.get(str(row["id"]))
    return rows


def badges_after(change: AuditEvent) -> dict:
    """`with_schedule_badges` for the one row a change is made to, should it succeed: its last
    change is then that change's attempt, known without a query."""
    deployment_id = change.deployment_id
    return {
        "schedules": badges_for([deployment_id]).get(deployment_id, []),
        "waiting": waiting_requests([deployment_id]).get(deployment_id),
        "last_change": _last_change(change),
    }


CHANGES = ("enable", "disable", "update", "create")
# A row's last change, by action and whether it was seen in Patchworks (translation markers).
LAST_CHANGE_WORDS = {
    ("enable", False): gettext_noop("Enabled by %(who)s"),
    ("disable", False): gettext_noop("Disabled by %(who)s"),
    ("update", False): gettext_noop("Changed by %(who)s"),
    ("create", False): gettext_noop("Created by %(who)s"),
    ("enable", True): gettext_noop("Enabled in Patchworks by %(who)s"),
    ("disable", True): gettext_noop("Disabled in Patchworks by %(who)s"),
    ("update", True): gettext_noop("Changed in Patchworks by %(who)s"),
    ("create", True): gettext_noop("Created in Patchworks by %(who)s"),
}


def last_changes(deployment_ids: list[str]) -> dict[str, dict]:
    """Per deployment, who last changed it, when and why ("Disabled by Ann Smith 2 hours ago:
    supplier outage"), linked to its event: one query for the page, one row each."""
    changes = entry_queryset().filter(
        deployment_id__in=deployment_ids,
        action__in=CHANGES,
        final_outcome=AuditEvent.Outcome.SUCCEEDED,
    )
    newest = changes.order_by().values("deployment_id").annotate(newest=Max("id"))
    events = AuditEvent.objects.filter(pk__in=newest.values("newest"))
    return {event.deployment_id: _last_change(event) for event in events}


def _last_change(event: AuditEvent) -> dict:
    who = actor_display(event)
    outside = event.source == AuditEvent.Source.PATCHWORKS
    return {
        "url": reverse("audit-event", args=(event.pk,)),
        "text": gettext(LAST_CHANGE_WORDS[(event.action, outside)]) % {"who": who},
        "when": when(event.occurred_at),
        "reason": event.reason,
        # For flow health's sentence: "Not run since Ann Smith disabled it 2 hours ago".
        "change": LastChange(
            who,
            change_verb(event.action, event.before, event.after),
            event.occurred_at,
            event.reason,
        ),
    }


# Flow health beside each row ------------------------------------------------------------------

# The mark's symbol (beside its words, never instead of them).
HEALTH_SYMBOLS = {Kind.FINE: "✓", Kind.FAILING: "✕", Kind.NOT_RUN: "■", Kind.UNKNOWN: "?"}


def health_mark(health: Health | None, last_change: dict | None) -> dict | None:
    """A row's health mark: its kind (for the style), symbol and sentence; None: no mark."""
    if health is None:
        return None
    change = last_change.get("change") if last_change else None
    return {
        "kind": str(health.kind).replace("_", "-"),
        "symbol": HEALTH_SYMBOLS[health.kind],
        "text": explain(health, change),
    }


def with_health(rows: list[dict], board: HealthBoard | None) -> list[dict]:
    """Each row's health mark from the page's one runs read (`with_schedule_badges` first)."""
    for row in rows:
        health = board.get(str(row["id"])) if board else None
        row["health"] = health_mark(health, row.get("last_change"))
    return rows


def health_after_change(row: dict, deployment: Deployment) -> dict:
    """A row swapped in after a change: its mark from what was read before, no new request."""
    summary = recall(deployment.id)  # none: runs were not read lately (or cannot be)
    health = after_change(deployment, summary) if summary else None
    row["health"] = health_mark(health, row.get("last_change"))
    return row


def waiting_requests(deployment_ids: list[str]) -> dict[str, dict]:
    """Per deployment, its open change request: "waiting for approval", with its link."""
    found: dict[str, dict] = {}
    requests = ChangeRequest.objects.filter(
        deployment_id__in=deployment_ids, status__in=ChangeRequest.OPEN_STATUSES
    ).order_by("requested_at", "id")
    for request in requests:
        found.setdefault(
            request.deployment_id,
            {
                "id": request.pk,
                "url": reverse("change-detail", args=(request.pk,)),
                "text": f"{request.action.capitalize()} waiting for approval"
                if request.status == ChangeRequest.Status.OPEN
                else f"{request.action.capitalize()} approved, not applied yet",
            },
        )
    return found


def table_columns(current: str | None, *, sortable: bool = True) -> list[dict[str, str | None]]:
    """The table's headers; sortable ones carry the sort a click asks for and the direction."""
    columns: list[dict[str, str | None]] = []
    for column, lazy_label in COLUMNS:
        label = str(lazy_label)
        if column not in SORT_KEYS:
            columns.append({"label": label})
            continue
        direction = None
        if current == column:
            direction = "ascending"
        elif current == f"-{column}":
            direction = "descending"
        header: dict[str, str | None] = {"label": label, "direction": direction}
        if sortable:
            header["next"] = f"-{column}" if direction == "ascending" else column
        columns.append(header)
    return columns


RUN_OUTCOMES = {
    "succeeded": gettext_lazy("Succeeded"),
    "failed": gettext_lazy("Failed"),
    "running": gettext_lazy("Still running"),
    "unknown": gettext_lazy("Outcome not known"),
}


def health_context(request: HttpRequest, one: OneDeployment, row: dict) -> dict:
    """The detail page's flow health: the sentence, the latest runs, the failing step's words."""
    health = one.health
    failure = health.last_failure if health else None
    return {
        "health": health_mark(health, row.get("last_change")),
        "health_shared": bool(health and health.shared),
        "health_runs": [_run_line(run, failure, health) for run in one.runs],
        "health_failure": health.failure_message if health else "",
        "health_notice": health_notice(request, one),
        "health_readable": one.readable,
        "allowance": allowance_words(),
    }


def allowance_words() -> str:
    """The plan's headroom, when a refusal of Patchworks named its number ("" otherwise)."""
    plan = allowance_told()
    if plan is None:
        return ""
    said = datetime.fromtimestamp(plan.said_at, tz=UTC)
    text = ngettext(
        "Your plan allows %(limit)d running flow (Patchworks said so %(when)s).",
        "Your plan allows %(limit)d running flows (Patchworks said so %(when)s).",
        plan.limit,
    ) % {"limit": plan.limit, "when": ago(said)}
    seen = enabled_seen()
    if seen is None:
        return text
    enabled, _ = seen
    room = plan.limit - enabled
    if room > 0:
        left = gettext(
            "%(enabled)d are enabled as the console last saw them: room for %(room)d more."
        )
    else:
        left = gettext("%(enabled)d are enabled as the console last saw them: no room for another.")
    return f"{text} {left % {'enabled': enabled, 'room': room}}"


def _run_line(run: FlowRun, failure: FlowRun | None, health: Health | None) -> dict:
    ended = run.finished_at if run.is_finished else None
    took = span(ended - run.started_at) if ended and run.started_at else ""
    first_failure = failure is not None and run.id == failure.id and health is not None
    return {
        "outcome": RUN_OUTCOMES.get(run.status, RUN_OUTCOMES["unknown"]),
        "failed": run.is_failed,
        "started": when(run.started_at),
        "duration": took or "—",
        "message": health.failure_message if first_failure and health else "",
    }


def health_notice(request: HttpRequest, board: HealthBoard | OneDeployment | None) -> str:
    """The one sentence about unreadable runs, for Admins only (others simply see no marks)."""
    if board is None or not board.notice:
        return ""
    return board.notice if request.user.has_perm("deployments_ui.manage_console") else ""


def pager(
    current: int, last: int, *, previous_label: str = "‹ Previous", next_label: str = "Next ›"
) -> dict | None:
    """The page links of a list (`_pagination.html`), or None when it has one page.

    Numbers around the current page and at both ends, with None where numbers are skipped.
    """
    if last <= 1:
        return None
    wanted = {1, last, *range(current - PAGE_WINDOW, current + PAGE_WINDOW + 1)}
    numbers: list[int | None] = []
    for number in sorted(n for n in wanted if 1 <= n <= last):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return {
        "current": current,
        "numbers": numbers,
        "previous": current - 1 if current > 1 else None,
        "next": current + 1 if current < last else None,
        "previous_label": previous_label,
        "next_label": next_label,
    }


def list_context(
    request: HttpRequest, *, form, page, flow_version: str = "", board: HealthBoard | None = None
) -> dict:
    query = form.to_query()
    filtered = bool(query.filters)
    items, clock = (page.items if page else []), page_clock()
    known: dict = {}
    rows = with_schedule_badges([deployment_row(item, clock, known) for item in items])
    return {
        "form": form,
        "page": page,
        "rows": with_health(rows, board),
        "health_notice": health_notice(request, board),
        "flow_version": flow_version,
        "filtered": filtered,
        "sort": query.sort or "",
        "columns": table_columns(query.sort, sortable=not flow_version),
        "pager": pager(page.current_page, page.last_page) if page else None,
        "list_url": request.path,
        "next": request.get_full_path(),
        # Bulk changes: the row checkboxes, and the filter carried to the preview.
        "bulk_choosable": not flow_version,
        "bulk_filters": [
            (name, value)
            for name in LIST_FILTER_PARAMETERS
            for value in request.GET.getlist(name)
            if value and len(value) <= 200
        ],
        "bulk_cap": settings.CONSOLE_BULK_MAX_ITEMS,
        **toggle_context(),
    }
