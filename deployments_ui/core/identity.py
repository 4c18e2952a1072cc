"""What identifies a deployment and its environment, said once.

`DeploymentRef` is the value every room passes around (pages, the audit trail, schedules, bulk
jobs, change requests, notifications) and `DeploymentRef.label` is the one wording of a
deployment's name. `DeploymentIdentity` is the same set of columns for the models that remember
a deployment (scheduled changes, bulk items, change requests, audit events).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.db import models
from django.utils.translation import gettext

from deployments_ui.core.vocabulary import GLOBAL_ENVIRONMENT_NAME, UNNAMED_FLOW


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class EnvironmentRef:
    """An environment as change control sees it: id, name and type (any may be empty)."""

    id: str = ""
    name: str = ""
    type: str = ""

    @classmethod
    def of(cls, thing: Any) -> EnvironmentRef:
        """From a Deployment, a DeploymentRef, a VirtualEnvironment, an EnvironmentRef or None
        (the global deployment)."""
        if thing is None:
            return cls()
        if isinstance(thing, EnvironmentRef):
            return thing
        if isinstance(thing, DeploymentRef):
            return thing.environment
        if hasattr(thing, "virtual_environment_id"):
            environment = getattr(thing, "virtual_environment", None)
            return cls(
                id=_text(thing.virtual_environment_id),
                name=(environment.name if environment else "") or "",
                type=(environment.type if environment else "") or "",
            )
        return cls(
            id=_text(getattr(thing, "id", "")),
            name=getattr(thing, "name", "") or "",
            type=getattr(thing, "type", "") or "",
        )


@dataclass(frozen=True)
class DeploymentRef:
    """One deployment, by its ids, with the names it had when it was read."""

    deployment_id: str = ""
    flow_version_id: str = ""
    flow_id: str = ""
    flow_name: str = ""
    flow_version_iteration: int | None = None
    environment_id: str = ""
    environment_name: str = ""
    environment_type: str = ""

    @classmethod
    def of(cls, thing: Any) -> DeploymentRef:
        """From a client `Deployment`, a model with `DeploymentIdentity`, or a DeploymentRef."""
        if isinstance(thing, DeploymentRef):
            return thing
        if hasattr(thing, "virtual_environment_id"):  # a Deployment read from Patchworks
            return cls(
                deployment_id=_text(getattr(thing, "id", "")),
                flow_version_id=_text(thing.flow_version_id),
                flow_id=_text(getattr(thing, "flow_id", "")),
                flow_name=_text(getattr(thing, "flow_name", "")),
                flow_version_iteration=getattr(thing, "flow_version_iteration", None),
                environment_id=_text(thing.virtual_environment_id),
                environment_name=_text(getattr(thing, "environment_name", "")),
                environment_type=_text(getattr(thing, "environment_type", "")),
            )
        return cls(**{f.name: _value(thing, f.name) for f in fields(cls)})

    @property
    def environment(self) -> EnvironmentRef:
        return EnvironmentRef(
            id=self.environment_id, name=self.environment_name, type=self.environment_type
        )

    @property
    def is_global(self) -> bool:
        return self.environment_name == GLOBAL_ENVIRONMENT_NAME

    @property
    def is_live(self) -> bool:
        return self.environment_type == "live"

    @property
    def flow_label(self) -> str:
        """The flow's name, or what is known instead."""
        if self.flow_name:
            return self.flow_name
        if self.flow_id:
            return gettext(UNNAMED_FLOW)
        if self.deployment_id:
            return gettext("deployment %(id)s") % {"id": self.deployment_id}
        return gettext("a deployment")

    def versioned_name(self) -> str:
        """'Orders → Shopify version 3': the flow and its version, without a place."""
        if not self.flow_version_iteration:
            return self.flow_label
        words = {"name": self.flow_label, "number": self.flow_version_iteration}
        return gettext("%(name)s version %(number)s") % words

    def label(self, *, kind: bool = False, preposition: str = "in") -> str:
        """'Orders → Shopify version 3 in UK Live', or 'Orders version 2 in all environments':
        the one wording of a deployment's name (capitalise it at the start of a sentence), in
        the reader's language. `kind` adds the environment's type: 'in UK Live (live)';
        `preposition` is "in" or "into"."""
        name = self.versioned_name()
        into = preposition == "into"
        if self.is_global:
            everywhere = (
                gettext("%(name)s into all environments")
                if into
                else gettext("%(name)s in all environments")
            )
            return everywhere % {"name": name}
        environment = self.environment_name or (
            gettext("environment %(id)s") % {"id": self.environment_id}
            if self.environment_id
            else ""
        )
        if not environment:
            return name
        suffix = f" ({gettext(self.environment_type)})" if kind and self.environment_type else ""
        place = gettext("%(name)s into %(place)s") if into else gettext("%(name)s in %(place)s")
        return place % {"name": name, "place": environment} + suffix

    def identity(self) -> dict[str, Any]:
        """The columns of `DeploymentIdentity`, for `objects.create(**ref.identity())`."""
        return {
            name: getattr(self, name)
            if name == "flow_version_iteration"
            else str(getattr(self, name))
            for name in IDENTITY_FIELDS
        }


def _value(thing: Any, name: str) -> Any:
    value = getattr(thing, name, None)
    if name == "flow_version_iteration":
        return value or None
    return _text(value)


class DeploymentIdentity(models.Model):
    """The columns that remember which deployment a row is about, as it was named then.

    Ids, never the displayed version number alone: `flow_version_iteration` changes when an
    older version is deleted, so it is kept for wording only.
    """

    deployment_id = models.CharField(max_length=40, blank=True, db_index=True)
    flow_version_id = models.CharField(max_length=40, blank=True)
    flow_name = models.CharField(max_length=255, blank=True)
    flow_version_iteration = models.PositiveIntegerField(null=True, blank=True)
    environment_id = models.CharField(max_length=40, blank=True)
    environment_name = models.CharField(max_length=255, blank=True)
    environment_type = models.CharField(max_length=10, blank=True)

    class Meta:
        abstract = True

    @property
    def ref(self) -> DeploymentRef:
        return DeploymentRef.of(self)

    @property
    def label(self) -> str:
        return self.ref.label()


IDENTITY_FIELDS = (
    "deployment_id",
    "flow_version_id",
    "flow_name",
    "flow_version_iteration",
    "environment_id",
    "environment_name",
    "environment_type",
)
