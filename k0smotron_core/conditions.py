"""Setting Cluster API conditions on status dicts: v1beta1 conditions (with severity) in `status.conditions`, and
metav1 conditions in `status.v1beta2.conditions`. A condition's lastTransitionTime changes only when its status does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]
Severity = Literal["", "Error", "Warning", "Info"]


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _upsert(conditions: list[dict[str, Any]], condition: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    found = False
    for existing in conditions:
        if existing.get("type") != condition["type"]:
            result.append(existing)
            continue
        found = True
        if existing.get("status") == condition["status"] and existing.get("lastTransitionTime"):
            condition = {**condition, "lastTransitionTime": existing["lastTransitionTime"]}
        result.append(condition)
    if not found:
        result.append(condition)
    return result


def set_v1beta1(
    status: dict[str, Any],
    type_: str,
    condition_status: Status,
    reason: str = "",
    message: str = "",
    severity: Severity = "",
) -> None:
    """CAPI v1beta1 condition: severity only when False; `Ready` first, the rest alphabetical."""
    condition: dict[str, Any] = {"type": type_, "status": condition_status, "lastTransitionTime": now()}
    if condition_status == "False":
        condition["severity"] = severity or "Info"
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    merged = _upsert(list(status.get("conditions") or ()), condition)
    merged.sort(key=lambda c: (c["type"] != "Ready", c["type"]))
    status["conditions"] = merged


def set_v1beta2(
    status: dict[str, Any],
    type_: str,
    condition_status: Status,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
) -> None:
    """metav1.Condition under `status.v1beta2.conditions` (CAPI's migration stage 1)."""
    condition: dict[str, Any] = {"type": type_, "status": condition_status, "reason": reason, "message": message,
                                 "lastTransitionTime": now()}
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    v1beta2 = status.setdefault("v1beta2", {})
    v1beta2["conditions"] = _upsert(list(v1beta2.get("conditions") or ()), condition)


def get(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def is_true(status: dict[str, Any] | None, type_: str) -> bool:
    condition = get(status, type_)
    return condition is not None and condition.get("status") == "True"
