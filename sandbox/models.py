"""The sandbox's copy of the bits of Patchworks the console touches, plus its own control state."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SandboxUser(models.Model):
    """A Patchworks user; `api_key` is how requests are matched to one (None: no API access)."""

    name = models.CharField(max_length=100)
    email = models.EmailField()
    api_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    # A key that may read but not write: Patchworks answers its writes with 403.
    read_only = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Package(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class VirtualEnvironment(models.Model):
    TYPES = [("test", "test"), ("live", "live")]

    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=TYPES)

    def __str__(self) -> str:
        return self.name


class Flow(models.Model):
    name = models.CharField(max_length=200)
    priority = models.PositiveSmallIntegerField(default=3)
    package = models.ForeignKey(Package, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class FlowVersion(models.Model):
    """A version of a flow. Its iteration is never stored: see `queries.iteration_subquery`."""

    STATUSES = [("Draft", "Draft"), ("Deployed", "Deployed"), ("Inactive", "Inactive")]

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    status = models.CharField(max_length=10, choices=STATUSES, default="Draft")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"version {self.pk} of flow {self.flow_id}"


class Deployment(models.Model):
    """One flow version placed into one virtual environment, or into none (global).

    `flow` repeats flow_version.flow so that the database itself enforces one version of a flow
    per environment and one global deployment per flow, even under concurrent requests.
    """

    flow_version = models.ForeignKey(
        FlowVersion, on_delete=models.CASCADE, related_name="deployments"
    )
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="deployments")
    virtual_environment = models.ForeignKey(
        VirtualEnvironment, null=True, blank=True, on_delete=models.CASCADE
    )
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    enabled_by = models.ForeignKey(
        SandboxUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        SandboxUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "virtual_environment"], name="one_version_per_environment"
            ),
            models.UniqueConstraint(
                fields=["flow"],
                condition=Q(virtual_environment__isnull=True),
                name="one_global_per_flow",
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"])]

    def __str__(self) -> str:
        return f"deployment {self.pk} of version {self.flow_version_id}"


class RunWindow(models.Model):
    """A stretch of time a deployment was enabled: its flow runs are worked out from these.

    Runs are not stored. Each window "runs" its flow every few minutes from `started_at` until
    `ended_at` (None: still enabled); from `fails_from` on, every run fails (see sandbox.runs).
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="windows")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    fails_from = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"runs of deployment {self.deployment_id} from {self.started_at}"


class FaultConfig(models.Model):
    """The process-wide fault configuration: a single row (pk=1), shared by threads and workers."""

    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_rate = models.FloatField(null=True, blank=True)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    hang_seconds = models.FloatField(null=True, blank=True)
    malformed = models.BooleanField(default=False)
    methods = models.JSONField(null=True, blank=True)
    path_contains = models.CharField(max_length=200, blank=True)
    # How many more matching requests the fault applies to; None: all of them.
    remaining = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return "stored fault"


class SandboxState(models.Model):
    """A single row (pk=1): whether the demo data may have changed since it was last loaded."""

    changed = models.BooleanField(default=False)
    # Writes received but not yet answered (one may be held by a fault): a reset waits for them.
    writes_in_flight = models.PositiveIntegerField(default=0)
    # When the demo data was last built afresh, and its snapshot taken.
    loaded_at = models.DateTimeField(null=True, blank=True)
    # The response shape set through /__sandbox__/shape; "" means SANDBOX_RESPONSE_SHAPE.
    response_shape = models.CharField(max_length=20, blank=True, default="")
    # The company's allowance of enabled deployments (set through /__sandbox__/allowance);
    # None: SANDBOX_MAX_ENABLED, and when that is unset too, no limit.
    max_enabled = models.PositiveIntegerField(null=True, blank=True)
    # How far ahead of the real time the runs' clock is (set through /__sandbox__/clock), so
    # that a test can see runs pass Patchworks' 7 days; a reset puts it back to 0.
    runs_days_ahead = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return "changed" if self.changed else "as loaded"


class RequestLogEntry(models.Model):
    """One /api/ request, written on arrival and completed with its status when answered."""

    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    query_string = models.TextField(blank=True)
    user_name = models.CharField(max_length=100, blank=True)  # "": no known key
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    fault = models.CharField(max_length=50, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"
