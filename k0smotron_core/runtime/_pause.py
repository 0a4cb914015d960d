"""Cluster API pausing: `Cluster.spec.paused` or the `cluster.x-k8s.io/paused` annotation stops reconciliation of a
cluster's objects, and the `Paused` condition says so (CAPI's util/paused).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._client import Client

PAUSED_ANNOTATION = "cluster.x-k8s.io/paused"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
CAPI_API_VERSION = "cluster.x-k8s.io/v1beta1"


def cluster_name_of(obj: dict[str, Any]) -> str | None:
    """The owning Cluster's name: the cluster-name label, else `spec.clusterName`."""
    label = (obj["metadata"].get("labels") or {}).get(CLUSTER_NAME_LABEL)
    return label or (obj.get("spec") or {}).get("clusterName")


def paused_condition(cluster: dict[str, Any] | None, obj: dict[str, Any], *, now: str | None = None) -> dict[str, Any]:
    """The `Paused` metav1 condition of `obj`, given its Cluster (None when unknown)."""
    reasons = []
    if cluster is not None and (cluster.get("spec") or {}).get("paused"):
        reasons.append("Cluster spec.paused is set to true")
    if PAUSED_ANNOTATION in (obj["metadata"].get("annotations") or {}):
        reasons.append(f"{obj.get('kind', 'Object')} has the {PAUSED_ANNOTATION} annotation")
    condition: dict[str, Any] = {
        "type": "Paused",
        "status": "True" if reasons else "False",
        "reason": "Paused" if reasons else "NotPaused",
        "message": ", ".join(reasons),
        "lastTransitionTime": now or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if obj["metadata"].get("generation") is not None:
        condition["observedGeneration"] = obj["metadata"]["generation"]
    return condition


async def check_paused(client: Client, obj: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether reconciliation of `obj` must stop, and the `Paused` condition to publish either way."""
    name = cluster_name_of(obj)
    cluster = None
    if name:
        cluster = await client.get(CAPI_API_VERSION, "Cluster", name, obj["metadata"].get("namespace") or "")
    condition = paused_condition(cluster, obj)
    return condition["status"] == "True", condition


def merge_condition(conditions: list[dict[str, Any]], condition: dict[str, Any]) -> list[dict[str, Any]]:
    """Set a metav1 condition in a list, keeping lastTransitionTime when the status did not change."""
    merged = []
    found = False
    for existing in conditions:
        if existing.get("type") != condition["type"]:
            merged.append(existing)
            continue
        found = True
        if existing.get("status") == condition["status"]:
            condition = {**condition, "lastTransitionTime": existing.get("lastTransitionTime",
                                                                         condition["lastTransitionTime"])}
        merged.append(condition)
    if not found:
        merged.append(condition)
    return merged
