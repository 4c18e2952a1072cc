"""What every failure a person can be shown has in common.

Patchworks errors (`deployments_ui.patchworks`), an audit trail that cannot be written
(`deployments_ui.audit`) and an action the console refuses (`ActionRefused`) are all a
`ConsoleError`: a `message` in plain words for the person at the screen, and the `http_status`
the page or fragment that shows it answers with. `views.pages` turns one into a response.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from deployments_ui.core.words import later


class ConsoleError(Exception):
    """Something the console could not do, said in plain words."""

    default_message = "The console could not do this. Please try again."
    http_status = 500

    def __init__(self, message: str = "", *, http_status: int | None = None) -> None:
        default = self.default_message
        message = message or later(lambda: gettext(default))
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return str(self.message)


class ActionRefused(ConsoleError):
    """The console declined to send a write; the reason is in plain words.

    `field` names the form field the refusal is about (shown beside it), `deployment` is the
    deployment as read just before, when there was one.
    """

    http_status = 409
    field = ""

    def __init__(self, message: str, deployment: Any = None) -> None:
        super().__init__(message)
        self.deployment = deployment
