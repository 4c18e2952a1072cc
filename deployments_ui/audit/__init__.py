"""The audit trail: append-only, hash-chained events and their plain sentences.

`from deployments_ui import audit` gives the trail's API (record an attempt, its outcome, a
refusal, a change seen outside the console); `audit.chain`, `audit.entries` and `audit.models`
are its parts.
"""

from deployments_ui.audit.chain import AuditUnavailable
from deployments_ui.audit.entries import AuditEntry, deployment_history, describe
from deployments_ui.audit.trail import (
    Actor,
    deployment_state,
    record_account,
    record_attempt,
    record_external,
    record_local,
    record_outcome,
    record_refusal,
    record_settlement,
)
from deployments_ui.audit.verify import VerifyResult, verify_chain

__all__ = [
    "Actor",
    "AuditEntry",
    "AuditUnavailable",
    "VerifyResult",
    "deployment_history",
    "deployment_state",
    "describe",
    "record_account",
    "record_attempt",
    "record_external",
    "record_local",
    "record_outcome",
    "record_refusal",
    "record_settlement",
    "verify_chain",
]
