"""Saving, listing, renaming and deleting saved views.

A saved view stores only a query string, checked against the parameters its page knows and
re-encoded, and opens as that page's own URL plus the query: it can never point anywhere else.
Saving, renaming and deleting one are audited with its before and after.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse

from deployments_ui import audit
from deployments_ui.audit import Actor
from deployments_ui.audit.models import AuditEvent
from deployments_ui.core.identity import DeploymentRef
from deployments_ui.core.words import said
from deployments_ui.saved_views.models import SavedView

PAGE_URL_NAMES: dict[str, str] = {
    SavedView.Page.DEPLOYMENTS: "deployment-list",
    SavedView.Page.AUDIT: "audit-log",
}
# The filters and sort each page reads from its URL (its forms' field names). The page number
# is left out on purpose: a saved view opens at the first page.
PAGE_PARAMETERS: dict[str, tuple[str, ...]] = {
    SavedView.Page.DEPLOYMENTS: (
        "q",
        "environment",
        "package",
        "flow",
        "scope",
        "name",
        "sort",
        "per_page",
    ),
    SavedView.Page.AUDIT: (
        "person",
        "action",
        "outcome",
        "source",
        "deployment",
        "flow",
        "environment",
        "date_from",
        "date_to",
        "before",
        "hours",
    ),
}
DROPPED_PARAMETERS = ("page",)
# Shared views reach everyone's menu: a bound on each person's and on all of them keeps the
# page small.
MAX_SHARED_PER_PERSON = 20
MAX_SHARED = 200
MAX_VALUE_LENGTH = 255
# Both are CharFields, whose max_length is always set.
MAX_NAME_LENGTH = cast(int, SavedView._meta.get_field("name").max_length)
MAX_QUERY_LENGTH = cast(int, SavedView._meta.get_field("query").max_length)


class SavedViewInvalid(ValueError):
    """What was sent cannot be saved; the message says why in plain words."""


def clean_page(page: str) -> str:
    if page not in PAGE_URL_NAMES:
        raise SavedViewInvalid(
            said("Views can be saved on the deployments list and the audit log only.")
        )
    return page


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise SavedViewInvalid(said("Give the view a name."))
    if len(name) > MAX_NAME_LENGTH:
        raise SavedViewInvalid(
            said("Keep the name to %(count)s characters or fewer.", count=MAX_NAME_LENGTH)
        )
    return name


def clean_query(page: str, query: str) -> str:
    """The query re-encoded with only the page's own, non-empty parameters.

    Raises SavedViewInvalid for parameters the page does not know, repeated ones and overlong
    values, so that what is stored is exactly what the page would show.
    """
    known = PAGE_PARAMETERS[clean_page(page)]
    # Blank values are read too, so that a stray bare word is refused rather than dropped.
    pairs = parse_qsl((query or "").lstrip("?"), keep_blank_values=True)
    unknown = sorted({key for key, _ in pairs} - set(known) - set(DROPPED_PARAMETERS))
    if unknown:
        raise SavedViewInvalid(
            said(
                "The view has settings this page does not know (%(names)s); "
                "open the page, set its filters again and save.",
                names=", ".join(unknown),
            )
        )
    kept: dict[str, str] = {}
    for key, value in pairs:
        if key in DROPPED_PARAMETERS or not value.strip():
            continue
        if key in kept:
            raise SavedViewInvalid(said("The filter %(key)s is given twice.", key=key))
        if len(value) > MAX_VALUE_LENGTH:
            raise SavedViewInvalid(said("The filter %(key)s is too long to save.", key=key))
        kept[key] = value
    # The page's own order, so the same filters always make the same link.
    encoded = urlencode([(key, kept[key]) for key in known if key in kept])
    if len(encoded) > MAX_QUERY_LENGTH:
        raise SavedViewInvalid(said("These filters are too long to save."))
    return encoded


def saved_view_url(view: SavedView) -> str:
    """The page's own URL with the saved query: a saved view is a plain link."""
    path = reverse(PAGE_URL_NAMES[view.page])
    return f"{path}?{view.query}" if view.query else path


def saved_views_visible(*, user: User, page: str) -> QuerySet[SavedView]:
    """The person's own views on a page, and those others shared, by name."""
    return (
        SavedView.objects.filter(page=page)
        .filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .order_by("name", "pk")
    )


def saved_view_create(
    *, owner: User, actor: Actor, name: str, page: str, query: str, shared: bool
) -> SavedView:
    """Save the page's current filters and sort under a name, private or shared; audited."""
    page = clean_page(page)
    if shared:
        _check_room_to_share(owner)
    view = SavedView(
        owner=owner,
        name=clean_name(name),
        page=page,
        query=clean_query(page, query),
        shared=shared,
    )
    with transaction.atomic():
        _save_unique(view)
        _record(actor, f"Saved the view “{view.name}”", None, view_words(view))
    return view


def saved_view_rename(*, owner: User, actor: Actor, view_id: int, name: str) -> SavedView:
    """Rename one of the owner's views (SavedView.DoesNotExist for anyone else's); audited."""
    view = SavedView.objects.get(pk=view_id, owner=owner)
    before = view_words(view)
    view.name = clean_name(name)
    with transaction.atomic():
        _save_unique(view)
        if view.name != before["Name"]:
            message = f"Renamed the view “{before['Name']}” to “{view.name}”"
            _record(actor, message, before, view_words(view))
    return view


def saved_view_delete(*, owner: User, actor: Actor, view_id: int) -> SavedView:
    """Delete one of the owner's views (SavedView.DoesNotExist for anyone else's); audited."""
    view = SavedView.objects.get(pk=view_id, owner=owner)
    before = view_words(view)
    with transaction.atomic():
        view.delete()
        _record(actor, f"Deleted the view “{before['Name']}”", before, None)
    return view


def view_words(view: SavedView) -> dict[str, str]:
    """A saved view as the audit trail keeps it, in plain words."""
    filters = "; ".join(f"{key}: {value}" for key, value in parse_qsl(view.query))
    return {
        "Name": view.name,
        "Page": view.get_page_display(),
        "Filters": filters or "none",
        "Shared": "with everyone" if view.shared else "no, only its owner sees it",
        "Owner": view.owner.get_username() if view.owner_id else "",
    }


def _record(actor: Actor, message: str, before: dict | None, after: dict | None) -> None:
    audit.record_local(
        actor=actor,
        action=AuditEvent.Action.SAVED_VIEW,
        target=DeploymentRef(),
        message=message,
        before=before,
        after=after,
    )


def _check_room_to_share(owner: User) -> None:
    shared = SavedView.objects.filter(shared=True)
    if shared.filter(owner=owner).count() >= MAX_SHARED_PER_PERSON:
        raise SavedViewInvalid(
            said(
                "You already share %(count)s views: stop sharing one, or save this "
                "one for yourself only.",
                count=MAX_SHARED_PER_PERSON,
            )
        )
    if shared.count() >= MAX_SHARED:
        raise SavedViewInvalid(
            said(
                "The console already holds %(count)s shared views: save this one for yourself "
                "only, or ask an Admin to tidy the shared ones.",
                count=MAX_SHARED,
            )
        )


def _save_unique(view: SavedView) -> None:
    taken = SavedView.objects.filter(owner=view.owner, page=view.page, name=view.name)
    if view.pk:
        taken = taken.exclude(pk=view.pk)
    if taken.exists():
        raise SavedViewInvalid(_name_taken(view.name))
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError as clash:  # saved twice at once
        raise SavedViewInvalid(_name_taken(view.name)) from clash


def _name_taken(name: str) -> str:
    return said("You already have a view called “%(name)s” on this page.", name=name)
