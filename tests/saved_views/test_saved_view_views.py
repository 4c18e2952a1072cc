"""Saving, opening, renaming and deleting saved views, through Django's test client."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from deployments_ui.saved_views.models import SavedView
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(db):
    return make_user("bob", "Viewer", full_name="Bob Shared")


def save(client, **fields):
    data = {"name": "Failed enables", "page": "audit", "query": "", **fields}
    return client.post("/saved-views/", data)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_it_saves_a_private_view_and_opens_it(client, viewer):
    client.force_login(viewer)
    response = save(client, query="outcome=failed&page=3&action=enable&person=")
    # The page number and empty filters are left out; the page's own order is kept.
    assert response.status_code == 302
    assert response["Location"] == "/audit/?action=enable&outcome=failed"
    view = SavedView.objects.get()
    assert (view.owner, view.name, view.page, view.shared) == (
        viewer,
        "Failed enables",
        "audit",
        False,
    )
    assert view.query == "action=enable&outcome=failed"
    assert "only you can see it" in messages_of(response)[0]


def test_it_saves_the_deployments_list_with_its_sort(client, viewer):
    client.force_login(viewer)
    response = save(
        client,
        name="Live Shopify",
        page="deployments",
        query="?environment=live&q=Shopify&sort=-enabled_at&per_page=50&page=2",
        shared="1",
    )
    assert response["Location"] == (
        "/deployments/?q=Shopify&environment=live&sort=-enabled_at&per_page=50"
    )
    assert SavedView.objects.get().shared is True


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"query": "next=https://evil.example/&action=enable"}, "does not know (next)"),
        ({"query": "//evil.example"}, "does not know"),
        ({"query": "action=enable&action=delete"}, "given twice"),
        ({"query": "person=" + "x" * 300}, "too long"),
        ({"page": "admin"}, "deployments list and the audit log only"),
        ({"name": "   "}, "Give the view a name"),
        ({"name": "x" * 81}, "80 characters"),
    ],
)
def test_it_refuses_what_it_cannot_save(client, viewer, fields, words):
    client.force_login(viewer)
    response = save(client, **fields)
    assert response.status_code == 302
    # Back to the page itself: a query that was refused is not followed either.
    assert response["Location"] in ("/audit/", "/deployments/")
    assert not SavedView.objects.exists()
    [message] = messages_of(response)
    assert message.startswith("The view was not saved.") and words in message


def test_a_refused_name_keeps_the_valid_filters(client, viewer):
    client.force_login(viewer)
    response = save(client, name="", query="action=enable")
    assert response["Location"] == "/audit/?action=enable"


def test_a_name_is_used_once_per_person_and_page(client, viewer, bob):
    client.force_login(viewer)
    save(client)
    response = save(client, name="  Failed   enables ")
    assert "already have a view called “Failed enables”" in messages_of(response)[-1]
    assert SavedView.objects.count() == 1
    # Someone else, or the other page, may use the same name.
    assert save(client, page="deployments").status_code == 302
    client.force_login(bob)
    save(client)
    assert SavedView.objects.count() == 3


def test_the_menu_lists_my_views_and_shared_ones_with_who_made_them(client, viewer, bob):
    SavedView.objects.create(owner=viewer, name="Mine", page="audit", query="action=enable")
    SavedView.objects.create(owner=bob, name="Bob's shared", page="audit", shared=True)
    SavedView.objects.create(owner=bob, name="Bob's private", page="audit")
    SavedView.objects.create(owner=viewer, name="Other page", page="deployments")
    client.force_login(viewer)
    html = client.get("/audit/?action=enable&page=2").content.decode()
    assert 'href="/audit/?action=enable"' in html and ">Mine</a>" in html
    assert "Bob&#x27;s shared" in html and "shared by Bob Shared" in html
    assert "Bob&#x27;s private" not in html and "Other page" not in html
    assert "Saved views (2)" in html
    # The owner's controls are on their own view only.
    assert html.count('action="/saved-views/') == 3  # rename + delete of Mine, and save
    # "Save this view" carries the current filters, without the page number.
    assert 'name="query" value="action=enable"' in html
    assert "Filters <span data-filter-count>(1 active)</span>" in html


def test_the_owner_renames_and_is_sent_back(client, viewer):
    view = SavedView.objects.create(owner=viewer, name="Old", page="audit")
    client.force_login(viewer)
    response = client.post(
        f"/saved-views/{view.pk}/rename/", {"name": "New", "next": "/audit/?action=enable"}
    )
    assert response["Location"] == "/audit/?action=enable"
    view.refresh_from_db()
    assert view.name == "New"


def test_rename_and_delete_never_send_people_off_the_site(client, viewer):
    view = SavedView.objects.create(owner=viewer, name="Old", page="audit")
    client.force_login(viewer)
    for url in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(f"/saved-views/{view.pk}/rename/", {"name": "New", "next": url})
        assert response["Location"] == "/audit/"
    response = client.post(f"/saved-views/{view.pk}/delete/", {"next": "https://evil.example/"})
    assert response["Location"] == "/audit/"


def test_the_owner_deletes(client, viewer):
    view = SavedView.objects.create(owner=viewer, name="Gone soon", page="deployments")
    client.force_login(viewer)
    response = client.post(f"/saved-views/{view.pk}/delete/")
    assert response["Location"] == "/deployments/"
    assert not SavedView.objects.exists()
    assert messages_of(response) == ["Deleted the view “Gone soon”."]


def test_only_the_owner_may_rename_or_delete(client, viewer, bob):
    shared = SavedView.objects.create(owner=bob, name="Shared", page="audit", shared=True)
    private = SavedView.objects.create(owner=bob, name="Private", page="audit")
    client.force_login(viewer)
    for action in ("rename", "delete"):
        response = client.post(f"/saved-views/{shared.pk}/{action}/", {"name": "Mine now"})
        assert response.status_code == 403
        assert b"Only the person who saved this view" in response.content
        # Someone else's private view is not there at all, as far as others can tell.
        response = client.post(f"/saved-views/{private.pk}/{action}/", {"name": "Mine now"})
        assert response.status_code == 404
    assert set(SavedView.objects.values_list("name", flat=True)) == {"Shared", "Private"}


def test_they_are_post_only(client, viewer):
    view = SavedView.objects.create(owner=viewer, name="Mine", page="audit")
    client.force_login(viewer)
    assert client.get("/saved-views/").status_code == 405
    assert client.get(f"/saved-views/{view.pk}/rename/").status_code == 405
    assert client.get(f"/saved-views/{view.pk}/delete/").status_code == 405
    assert SavedView.objects.exists()


def test_signed_out_and_roleless_people_cannot_save(client, no_role_user):
    response = save(client)
    assert response["Location"].startswith("/accounts/login/")
    client.force_login(no_role_user)
    assert save(client).status_code == 403
    assert not SavedView.objects.exists()


def test_the_deployments_list_shows_the_menu_and_counts_filters(client, viewer, on_sandbox):
    SavedView.objects.create(
        owner=viewer, name="Live ones", page="deployments", query="environment=live"
    )
    client.force_login(viewer)
    html = client.get("/deployments/?environment=live&q=Shop&per_page=50").content.decode()
    assert 'href="/deployments/?environment=live"' in html
    # Rows per page is not a filter.
    assert "Filters <span data-filter-count>(2 active)</span>" in html
    assert 'name="page" value="deployments"' in html


def test_sharing_is_bounded_per_person_and_in_all(client, viewer, bob):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer, name=f"Mine {n}", page="audit", shared=True) for n in range(20)
    )
    client.force_login(viewer)
    refused = save(client, name="One more", page="audit", query="", shared="1")
    assert any("You already share 20 views" in text for text in messages_of(refused))
    assert SavedView.objects.filter(owner=viewer).count() == 20
    save(client, name="Just for me", page="audit", query="")
    assert SavedView.objects.filter(owner=viewer, shared=False).count() == 1

    carol = make_user("carol", "Viewer", full_name="Carol Many")
    SavedView.objects.bulk_create(
        SavedView(owner=carol, name=f"Carol {n}", page="deployments", shared=True)
        for n in range(180)
    )
    client.force_login(bob)
    refused = save(client, name="Bob's next", page="audit", query="", shared="1")
    assert any("already holds 200 shared views" in text for text in messages_of(refused))
