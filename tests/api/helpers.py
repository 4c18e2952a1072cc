"""Tokens and requests for the API tests."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from deployments_ui.audit import Actor
from deployments_ui.models import ApiToken
from deployments_ui.tokens import services

TOKEN_NAME = "nightly maintenance"


def token_for(person, kind: str = ApiToken.Scope.ROLE, name: str = TOKEN_NAME) -> str:
    """A new token of `person`; returns its secret."""
    _, secret = services.create_token(
        actor=Actor(user=person, username=person.username, name=person.get_full_name()),
        user=person,
        name=name,
        expires_at=timezone.now() + timedelta(days=7),
        scope=kind,
    )
    return secret


class Api:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, client, secret: str) -> None:
        self.client, self.secret = client, secret

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(f"/api/v1{path}", params or {}, **self._headers())

    def post(self, path: str, body: dict | None = None, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body or {})
        return self.client.post(
            f"/api/v1{path}", data, content_type="application/json", **self._headers()
        )


def path_of(item: dict, suffix: str = "") -> str:
    return f"/deployments/{item['flow_version_id']}/{item['id']}{suffix}"
