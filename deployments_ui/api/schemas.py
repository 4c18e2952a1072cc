"""What the API takes and gives: plain names, times in ISO 8601 with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema


class Problem(Schema):
    message: str = Field(description="What went wrong, in plain words.")
    field_errors: dict[str, list[str]] = Field(
        default_factory=dict, description="Messages by the name of the field they are about."
    )


class Environment(Schema):
    id: str
    name: str
    type: str


class DeploymentOut(Schema):
    id: str
    flow_version_id: str
    flow_id: str
    flow_name: str
    version: int | None
    environment: Environment | None = Field(description="None for a global deployment.")
    is_global: bool
    enabled: bool
    enabled_at: datetime | None
    enabled_by: str | None
    priority: int | None
    package: str | None
    label: str = Field(description="The deployment in words, e.g. 'Orders v3 in UK Live (live)'.")
    url: str = Field(description="Its page in the console.")


class DeploymentPage(Schema):
    items: list[DeploymentOut]
    page: int
    per_page: int
    last_page: int
    total: int
    age_seconds: int = Field(description="How old the answer is (shared reads), 0 when new.")


class ChangeIn(Schema):
    reason: str = Field("", max_length=500, description="Required in live environments.")
    confirm_name: str = Field(
        "", max_length=255, description="The environment's name, where a rule asks for it."
    )
    freeze_override: str = Field(
        "", max_length=500, description="An Admin's reason to change during a freeze window."
    )


class ScheduleIn(ChangeIn):
    action: Literal["enable", "disable"]
    at: str = Field(
        "", description="When: ISO 8601, e.g. 2026-12-08T02:00 (in time_zone) or with an offset."
    )
    until: str = Field("", description="A disable only: enable it again then.")
    time_zone: str = Field("", description="For times without an offset; the console's if empty.")


class ApprovalIn(ChangeIn):
    action: Literal["enable", "disable"]


class ChangeRequestOut(Schema):
    id: int
    status: str
    summary: str
    reason: str
    requested_by: str
    approvals_required: int
    due_at: datetime | None
    url: str = Field(description="Its page in the console, where others approve it.")
    api_url: str


class ScheduledOut(Schema):
    id: int
    action: str
    due_at: datetime
    status: str


class ChangeOut(Schema):
    outcome: Literal["done", "skipped", "waiting", "scheduled"] = Field(
        description="done: changed now; skipped: it already was; waiting: a change request "
        "waits for approval (202); scheduled: it happens later."
    )
    message: str
    deployment: DeploymentOut | None = None
    change_request: ChangeRequestOut | None = None
    scheduled: list[ScheduledOut] = Field(default_factory=list)


class AuditEntryOut(Schema):
    id: int
    occurred_at: datetime
    sentence: str = Field(description="The event in one plain sentence, as the audit log says.")
    action: str
    outcome: str
    actor: str
    deployment_id: str
    flow_version_id: str
    reason: str
    url: str


class AuditEventOut(AuditEntryOut):
    details: dict[str, str]


class AuditPage(Schema):
    items: list[AuditEntryOut]
    page: int
    last_page: int
    total: int
