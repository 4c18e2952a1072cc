"""Fixtures shared by the browser journeys."""

from __future__ import annotations

import pytest

from tests.factories import make_user


@pytest.fixture
def people(roles):
    return {
        "oscar": make_user(
            "oscar", "Operator", full_name="Oscar Operator", api_key="sandbox-key-operator"
        ),
        "olga": make_user(
            "olga", "Operator", full_name="Olga Other", api_key="sandbox-key-operator"
        ),
        "edie": make_user("edie", "Editor", full_name="Edie Editor", api_key="sandbox-key-editor"),
        "adam": make_user("adam", "Admin", full_name="Adam Admin", api_key="sandbox-key-admin"),
    }
