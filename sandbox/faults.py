"""Fault injection: what a fault is, how it is read (stored config or X-Sandbox-Fault header),
and which requests it applies to."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from django.db.models import F

from sandbox.models import FaultConfig


class FaultError(ValueError):
    """A fault description that cannot be understood."""


@dataclass
class FaultSpec:
    latency_ms: int | None = None
    error_status: int | None = None
    error_rate: float | None = None
    retry_after: int | None = None
    hang_seconds: float | None = None
    malformed: bool = False
    methods: list[str] | None = None
    path_contains: str | None = None
    count: int | None = None

    def applies_to(self, method: str, path: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        return not (self.path_contains and self.path_contains not in path)

    def fires(self) -> bool:
        """Whether this request's answer is replaced (error, 429, malformed), at error_rate."""
        rate = 1.0 if self.error_rate is None else self.error_rate
        return rate >= 1.0 or random.random() < rate

    def delay_seconds(self) -> float:
        return (self.latency_ms or 0) / 1000 + (self.hang_seconds or 0)

    def label(self) -> str:
        """A short description for the request log."""
        parts = [
            f"{name}={value}"
            for name, value in asdict(self).items()
            if value not in (None, False) and name not in {"methods", "path_contains", "count"}
        ]
        return "; ".join(parts)[:50]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FaultError(f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise FaultError(f"{name} must be an integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise FaultError(f"{name} must be at least {minimum}{bound}")
    return number


def _float(name: str, value: Any, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FaultError(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise FaultError(f"{name} must be a number") from None
    if number < 0 or (maximum is not None and number > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise FaultError(f"{name} must be at least 0{bound}")
    return number


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise FaultError(f"{name} must be true or false")


def _methods(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise FaultError("methods must be a list of HTTP methods")
    return [item.strip().upper() for item in items if item.strip()]


def parse_fault(data: dict[str, Any]) -> FaultSpec:
    """A FaultSpec from JSON or header values (which are all strings); None means not set."""
    known = {f.name for f in fields(FaultSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FaultError(f"unknown fault field(s): {', '.join(unknown)}")
    spec = FaultSpec()
    values = {name: value for name, value in data.items() if value is not None}
    if "latency_ms" in values:
        spec.latency_ms = _int("latency_ms", values["latency_ms"], 0, 600_000)
    if "error_status" in values:
        spec.error_status = _int("error_status", values["error_status"], 400, 599)
    if "error_rate" in values:
        spec.error_rate = _float("error_rate", values["error_rate"], 1.0)
    if "retry_after" in values:
        spec.retry_after = _int("retry_after", values["retry_after"], 0, 86_400)
    if "hang_seconds" in values:
        spec.hang_seconds = _float("hang_seconds", values["hang_seconds"], 600.0)
    if "malformed" in values:
        spec.malformed = _bool("malformed", values["malformed"])
    if "methods" in values:
        spec.methods = _methods(values["methods"]) or None
    if "path_contains" in values:
        spec.path_contains = str(values["path_contains"]) or None
    if "count" in values:
        spec.count = _int("count", values["count"], 1, 1_000_000)
    return spec


def parse_header(header: str) -> FaultSpec:
    """`latency_ms=50; error_status=503` as a FaultSpec. A count means nothing per request."""
    data: dict[str, str] = {}
    for part in header.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise FaultError(f"expected key=value, got {part.strip()!r}")
        data[name.strip()] = value.strip()
    if "count" in data:
        raise FaultError("count applies to stored faults only, not to the header")
    return parse_fault(data)


# --- the stored, process-wide fault ----------------------------------------------------------


def stored_fault() -> FaultSpec | None:
    config = FaultConfig.objects.filter(pk=1).first()
    if config is None:
        return None
    return FaultSpec(
        latency_ms=config.latency_ms,
        error_status=config.error_status,
        error_rate=config.error_rate,
        retry_after=config.retry_after,
        hang_seconds=config.hang_seconds,
        malformed=config.malformed,
        methods=config.methods,
        path_contains=config.path_contains or None,
        count=config.remaining,
    )


def store_fault(spec: FaultSpec) -> None:
    data = spec.as_json()
    data["remaining"] = data.pop("count")
    data["path_contains"] = data["path_contains"] or ""
    FaultConfig.objects.update_or_create(pk=1, defaults=data)


def clear_fault() -> None:
    FaultConfig.objects.all().delete()


def take_one(spec: FaultSpec) -> bool:
    """Use up one of a counted fault's requests; False once they are all used.

    A single conditional UPDATE, so that concurrent threads and workers never overspend it.
    """
    if spec.count is None:
        return True
    taken = FaultConfig.objects.filter(pk=1, remaining__gt=0).update(remaining=F("remaining") - 1)
    return taken == 1
