"""Small helpers on objects in wire form (dicts): nested reads, references, owner references, conditions."""

from __future__ import annotations

import datetime as dt
from typing import Any

CAPI_API_VERSION = "cluster.x-k8s.io/v1beta1"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"

Obj = dict[str, Any]


def nested(obj: Obj | None, *path: str) -> Any:
    """The value at `path`, or None when any step is missing (or not a mapping)."""
    current: Any = obj
    for step in path:
        if not isinstance(current, dict):
            return None
        current = current.get(step)
    return current


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> Obj:
    result: Obj = obj.setdefault("metadata", {})
    return result


def labels_of(obj: Obj) -> dict[str, str]:
    return dict(nested(obj, "metadata", "labels") or {})


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict(nested(obj, "metadata", "annotations") or {})


def owner_reference(owner: Obj, *, controller: bool) -> Obj:
    ref: Obj = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"]}
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def is_owned_by(obj: Obj, owner: Obj, *, controller: bool = False) -> bool:
    uid = owner["metadata"]["uid"]
    return any(ref.get("uid") == uid and (ref.get("controller") or not controller)
               for ref in nested(obj, "metadata", "ownerReferences") or ())


def controller_of(obj: Obj) -> Obj | None:
    return next((ref for ref in nested(obj, "metadata", "ownerReferences") or () if ref.get("controller")), None)


def is_deleting(obj: Obj) -> bool:
    return bool(nested(obj, "metadata", "deletionTimestamp"))


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


# --- conditions ------------------------------------------------------------------------------------------
# Core's own objects are served as v1beta1: old-style conditions in `status.conditions`, new-style ones (the
# v1beta2 contract) in `status.v1beta2.conditions`. Providers read either, so the simulator writes both.

def condition(conditions: list[Obj] | None, condition_type: str) -> Obj | None:
    return next((c for c in conditions or () if c.get("type") == condition_type), None)


def condition_is_true(obj: Obj, condition_type: str) -> bool:
    for conditions in (nested(obj, "status", "conditions"), nested(obj, "status", "v1beta2", "conditions")):
        found = condition(conditions, condition_type)
        if found is not None and found.get("status") == "True":
            return True
    return False


def set_condition(conditions: list[Obj], condition_type: str, status: bool, reason: str = "", message: str = "",
                  *, v1beta2: bool = False, generation: int | None = None) -> list[Obj]:
    """The list with that condition set; lastTransitionTime changes only when the status does."""
    value = "True" if status else "False"
    old = condition(conditions, condition_type)
    entry: Obj = {"type": condition_type, "status": value,
                  "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == value
                  and old.get("lastTransitionTime") else now()}
    if v1beta2:
        entry["reason"] = reason or (condition_type if status else f"Not{condition_type}")
        entry["message"] = message
        if generation is not None:
            entry["observedGeneration"] = generation
    else:
        if reason:
            entry["reason"] = reason
        if message:
            entry["message"] = message
        if not status:
            entry["severity"] = "Info"
    others = [c for c in conditions if c.get("type") != condition_type]
    return sorted([*others, entry], key=lambda c: (c["type"] != "Ready", c["type"]))


class Conditions:
    """Builds both condition lists of a core object's status at once, starting from what it has now."""

    def __init__(self, obj: Obj) -> None:
        self.v1beta1: list[Obj] = list(nested(obj, "status", "conditions") or ())
        self.v1beta2: list[Obj] = list(nested(obj, "status", "v1beta2", "conditions") or ())
        self._generation = nested(obj, "metadata", "generation")

    def set(self, condition_type: str, status: bool, reason: str = "", message: str = "",
            *, v1beta2_type: str | None = None, only_v1beta1: bool = False) -> None:
        """Set it in both lists (under `v1beta2_type` in the new-style one, when the names differ)."""
        self.v1beta1 = set_condition(self.v1beta1, condition_type, status, "" if status else reason, message)
        if not only_v1beta1:
            self.v1beta2 = set_condition(self.v1beta2, v1beta2_type or condition_type, status, reason, message,
                                         v1beta2=True, generation=self._generation)

    def status_patch(self) -> Obj:
        return {"conditions": self.v1beta1, "v1beta2": {"conditions": self.v1beta2}}


def needs_patch(current: Any, patch: Any) -> bool:
    """Whether applying the merge patch would change `current` (so no-op writes, and their events, are skipped)."""
    if isinstance(patch, dict):
        if not isinstance(current, dict):
            return True
        return any(needs_patch(current.get(key), value) for key, value in patch.items())
    return bool(current != patch)


def valid_endpoint(endpoint: Any) -> bool:
    return isinstance(endpoint, dict) and bool(endpoint.get("host")) and bool(endpoint.get("port"))
