"""The MachineDeployment controller of CAPI core: one MachineSet per template, sized like the deployment
(spec §4.6). A template change rolls out by creating the new MachineSet and scaling the old ones to zero.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...runtime import Manager, Request, Result
from ._machineset import DEPLOYMENT_NAME_LABEL
from ._objects import (
    CAPI_API_VERSION,
    CLUSTER_NAME_LABEL,
    Conditions,
    Obj,
    controller_of,
    is_deleting,
    labels_of,
    needs_patch,
    nested,
    owner_reference,
)
from ._races import tolerating_races

TEMPLATE_HASH_LABEL = "machine-template-hash"
REVISION_ANNOTATION = "machinedeployment.clusters.x-k8s.io/revision"


def template_hash(template: Any) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class MachineDeploymentController:
    def __init__(self, manager: Manager) -> None:
        self._manager = manager

    async def setup(self) -> None:
        await (
            self._manager.controller("machinedeployment")
            .reconciles((CAPI_API_VERSION, "MachineDeployment"))
            .owns(CAPI_API_VERSION, "MachineSet")
            .complete(tolerating_races(self.reconcile))
        )

    def _machine_sets_of(self, deployment: Obj) -> list[Obj]:
        informer = self._manager.cache.cached(CAPI_API_VERSION, "MachineSet")
        uid = deployment["metadata"]["uid"]
        return [s for s in (informer.objects(deployment["metadata"]["namespace"]) if informer else ())
                if (controller_of(s) or {}).get("uid") == uid]

    async def reconcile(self, request: Request) -> Result:
        client = self._manager.client
        deployment = await client.get(CAPI_API_VERSION, "MachineDeployment", request.name, request.namespace)
        if deployment is None or is_deleting(deployment):
            return Result()  # its MachineSets (and their Machines) go with it through garbage collection
        metadata = await self._metadata_patch(deployment)
        if metadata is not None:
            deployment = await client.patch(CAPI_API_VERSION, "MachineDeployment", request.name, request.namespace,
                                            metadata)
        wanted = nested(deployment, "spec", "replicas")
        wanted = 1 if wanted is None else int(wanted)
        template = nested(deployment, "spec", "template") or {}
        current_name = f"{request.name}-{template_hash(template)}"
        owned = self._machine_sets_of(deployment)
        current = next((s for s in owned if s["metadata"]["name"] == current_name), None)
        if current is None:
            await client.create(self._machine_set(deployment, current_name, wanted, revision=len(owned) + 1))
        elif nested(current, "spec", "replicas") != wanted:
            await client.patch(CAPI_API_VERSION, "MachineSet", current_name, request.namespace,
                               {"spec": {"replicas": wanted}})
        for old in owned:
            if old["metadata"]["name"] == current_name:
                continue
            # Old templates: scale down, then remove once empty (a "recreate" rollout, without surge accounting).
            if nested(old, "spec", "replicas") != 0:
                await client.patch(CAPI_API_VERSION, "MachineSet", old["metadata"]["name"], request.namespace,
                                   {"spec": {"replicas": 0}})
            elif not nested(old, "status", "replicas") and not is_deleting(old):
                await client.delete(CAPI_API_VERSION, "MachineSet", old["metadata"]["name"], request.namespace)
        await self._write_status(deployment, wanted, current_name)
        return Result()

    async def _metadata_patch(self, deployment: Obj) -> Obj | None:
        meta: Obj = {}
        cluster_name = deployment["spec"]["clusterName"]
        if labels_of(deployment).get(CLUSTER_NAME_LABEL) != cluster_name:
            meta["labels"] = {CLUSTER_NAME_LABEL: cluster_name}
        refs = list(nested(deployment, "metadata", "ownerReferences") or [])
        if not any(r.get("kind") == "Cluster" for r in refs):
            cluster = await self._manager.client.get(CAPI_API_VERSION, "Cluster", cluster_name,
                                                     deployment["metadata"]["namespace"])
            if cluster is not None:
                meta["ownerReferences"] = [*refs, owner_reference(cluster, controller=False)]
        if not meta:
            return None
        meta["resourceVersion"] = deployment["metadata"]["resourceVersion"]
        return {"metadata": meta}

    def _machine_set(self, deployment: Obj, name: str, replicas: int, *, revision: int) -> Obj:
        namespace, md_name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        cluster_name = deployment["spec"]["clusterName"]
        template = nested(deployment, "spec", "template") or {}
        hash_value = name.rpartition("-")[2]
        lineage = {DEPLOYMENT_NAME_LABEL: md_name, CLUSTER_NAME_LABEL: cluster_name, TEMPLATE_HASH_LABEL: hash_value}
        selector = {**(nested(deployment, "spec", "selector", "matchLabels") or {DEPLOYMENT_NAME_LABEL: md_name}),
                    TEMPLATE_HASH_LABEL: hash_value}
        template_meta = template.get("metadata") or {}
        spec: dict[str, Any] = {
            "clusterName": cluster_name,
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {**template_meta, "labels": {**(template_meta.get("labels") or {}), **lineage}},
                         "spec": template.get("spec") or {}},
        }
        for field in ("deletePolicy", "minReadySeconds"):
            value = nested(deployment, "spec", "strategy", "rollingUpdate", field) if field == "deletePolicy" \
                else nested(deployment, "spec", field)
            if value is not None:
                spec[field] = value
        return {
            "apiVersion": CAPI_API_VERSION, "kind": "MachineSet",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**(template_meta.get("labels") or {}), **lineage},
                         "annotations": {REVISION_ANNOTATION: str(revision)},
                         "ownerReferences": [owner_reference(deployment, controller=True)]},
            "spec": spec,
        }

    async def _write_status(self, deployment: Obj, wanted: int, current_name: str) -> None:
        machine_sets = self._machine_sets_of(deployment)

        def total(field: str) -> int:
            return sum(int(nested(s, "status", field) or 0) for s in machine_sets)

        replicas, ready, available = total("replicas"), total("readyReplicas"), total("availableReplicas")
        updated = sum(int(nested(s, "status", "replicas") or 0) for s in machine_sets
                      if s["metadata"]["name"] == current_name)
        phase = "ScalingUp" if replicas < wanted else "ScalingDown" if replicas > wanted else "Running"
        conditions = Conditions(deployment)
        conditions.set("Available", available >= wanted, "WaitingForAvailableMachines",
                       f"{available} of {wanted} machines available")
        match_labels = nested(deployment, "spec", "selector", "matchLabels") or {}
        status = {
            "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": available, "unavailableReplicas": max(wanted - available, 0), "phase": phase,
            "observedGeneration": deployment["metadata"].get("generation"),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
            **conditions.status_patch(),
        }
        if needs_patch(deployment.get("status"), status):
            meta = deployment["metadata"]
            await self._manager.client.patch(CAPI_API_VERSION, "MachineDeployment", meta["name"], meta["namespace"], {
                "metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}, subresource="status")
