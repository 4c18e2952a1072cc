"""The audit log and its CSV export (placeholder until the audit work lands)."""

from __future__ import annotations


def audit_log(request):
    raise NotImplementedError


def audit_export(request):
    raise NotImplementedError
