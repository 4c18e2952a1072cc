"""Journeys in a real Chromium; `sign_in` is how each one starts."""

from __future__ import annotations

from tests.factories import PASSWORD


def sign_in(page, user, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
