"""The company's allowance of enabled deployments, by tier, and the refusal past it.

Patchworks counts enabled flows against the company's connector allowance and may refuse an
enable for it; it does not publish the refusal. The sandbox answers 403 with Laravel's
{"message"}, naming the plan's number: a guess, recorded in docs/PATCHWORKS.md.
"""

from __future__ import annotations

from django.conf import settings

from sandbox import loading
from sandbox.models import Deployment, SandboxState
from sandbox.web import ApiError

ALLOWANCE_STATUS = 403


def limit() -> int | None:
    """How many deployments may be enabled at once; None: no limit."""
    stored = SandboxState.objects.filter(pk=1).values_list("max_enabled", flat=True).first()
    return settings.SANDBOX_MAX_ENABLED if stored is None else stored


def store(max_enabled: int | None) -> None:
    """Set the limit (None: back to SANDBOX_MAX_ENABLED)."""
    SandboxState.objects.update_or_create(pk=1, defaults={"max_enabled": max_enabled})
    loading.mark_changed()  # so that the next reset puts it back


def as_json() -> dict:
    return {
        "max_enabled": limit(),
        "enabled": Deployment.objects.filter(enabled_at__isnull=False).count(),
    }


def check_room() -> None:
    """Refuse one more enabled deployment when the allowance is used up."""
    most = limit()
    if most is None:
        return
    if Deployment.objects.filter(enabled_at__isnull=False).count() >= most:
        flows = "flow" if most == 1 else "flows"
        raise ApiError(
            ALLOWANCE_STATUS,
            f"Your plan allows {most} active {flows}. Disable a flow or upgrade your plan "
            "to enable another.",
        )
