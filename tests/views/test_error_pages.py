"""The console's own error pages speak plain words and never show a traceback."""

from __future__ import annotations

import pytest
from django.test import Client

from deployments_ui.deployments import reads


@pytest.mark.django_db
def test_an_unknown_page_is_a_plain_404(client, viewer):
    client.force_login(viewer)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()


@pytest.mark.django_db
def test_a_crash_is_a_plain_500_without_a_traceback(viewer, monkeypatch):

    def crash(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reads, "pickers_get", crash)
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    response = client.get("/deployments/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong in the console" in html
    assert "secret internals" not in html and "Traceback" not in html
