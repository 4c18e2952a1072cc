"""Why the one write path refuses a change before anything is sent (`writes`)."""

from __future__ import annotations

from deployments_ui.core.errors import ActionRefused
from deployments_ui.patchworks import Deployment


class AlreadyInState(ActionRefused):
    """Someone else already enabled (or disabled) the deployment."""


class ChangedSinceOpened(ActionRefused):
    """The deployment changed in Patchworks after the form was opened."""

    deployment: Deployment

    def __init__(self, message: str, deployment: Deployment, changes: list[str]) -> None:
        super().__init__(message, deployment)
        self.changes = changes


class NotAllowed(ActionRefused):
    """The person who asked may no longer make this change (deactivated, or their role)."""

    http_status = 403


class OutOfScope(NotAllowed):
    """The person may make this kind of change, but not here: not theirs to change (their role
    in this environment or flow does not allow it; accounts.scopes)."""


class Withdrawn(ActionRefused):
    """The caller's claim failed inside the attempt's transaction: nothing was sent."""
