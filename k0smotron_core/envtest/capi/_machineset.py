"""The MachineSet controller of CAPI core: clone templates, create Machines, scale up and down (spec §4.5)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from ...runtime import APIError, Manager, Request, Result
from ._external import ExternalObjects, MissingKind
from ._machine import MACHINE_FINALIZER
from ._objects import (
    CAPI_API_VERSION,
    CLUSTER_NAME_LABEL,
    Conditions,
    Obj,
    annotations_of,
    controller_of,
    is_deleting,
    labels_of,
    needs_patch,
    nested,
    owner_reference,
)
from ._races import tolerating_races
from ._templates import TemplateMissing, clone_template, random_suffix

SET_NAME_LABEL = "cluster.x-k8s.io/set-name"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
DELETE_MACHINE_ANNOTATION = "cluster.x-k8s.io/delete-machine"
DISABLE_MACHINE_CREATE_ANNOTATION = "cluster.x-k8s.io/disable-machine-create"
_CACHE_WAIT_S = 5.0


class MachineSetController:
    def __init__(self, manager: Manager, *, poll_s: float) -> None:
        self._manager = manager
        self._poll_s = poll_s
        # Clones are owned by the MachineSet only until their Machine takes them over: no events needed from them.
        self._external = ExternalObjects(manager, lambda _obj: [])

    async def setup(self) -> None:
        await (
            self._manager.controller("machineset")
            .reconciles((CAPI_API_VERSION, "MachineSet"))
            .owns(CAPI_API_VERSION, "Machine")
            .complete(tolerating_races(self.reconcile))
        )

    def _machines_of(self, machine_set: Obj) -> list[Obj]:
        informer = self._manager.cache.cached(CAPI_API_VERSION, "Machine")
        uid = machine_set["metadata"]["uid"]
        return [m for m in (informer.objects(machine_set["metadata"]["namespace"]) if informer else ())
                if (controller_of(m) or {}).get("uid") == uid]

    async def _until_cached(self, machine_set: Obj, done: Callable[[list[Obj]], bool]) -> None:
        """Wait until the cache shows our own writes, so the next reconcile does not count stale Machines (CAPI
        waits the same way instead of keeping expectations)."""
        deadline = time.monotonic() + _CACHE_WAIT_S
        while time.monotonic() < deadline:
            if done(self._machines_of(machine_set)):
                return
            await asyncio.sleep(0.01)

    async def reconcile(self, request: Request) -> Result:
        client = self._manager.client
        machine_set = await client.get(CAPI_API_VERSION, "MachineSet", request.name, request.namespace)
        if machine_set is None or is_deleting(machine_set):
            return Result()  # owned Machines go with it through garbage collection
        metadata = await self._metadata_patch(machine_set)
        if metadata is not None:
            machine_set = await client.patch(CAPI_API_VERSION, "MachineSet", request.name, request.namespace,
                                             metadata)
        conditions = Conditions(machine_set)
        machines = self._machines_of(machine_set)
        wanted = nested(machine_set, "spec", "replicas")
        wanted = 1 if wanted is None else int(wanted)
        problem = ""
        if len(machines) < wanted and DISABLE_MACHINE_CREATE_ANNOTATION not in annotations_of(machine_set):
            created: set[str] = set()
            try:
                for _ in range(wanted - len(machines)):
                    created.add(await self._create_machine(machine_set))
            except (MissingKind, TemplateMissing) as error:
                problem = str(error)
            await self._until_cached(machine_set, lambda now: created <= {m["metadata"]["name"] for m in now})
        elif len(machines) > wanted:
            victims = sorted(machines, key=_deletion_priority)[:len(machines) - wanted]
            for victim in victims:
                if not is_deleting(victim):
                    await client.delete(CAPI_API_VERSION, "Machine", victim["metadata"]["name"], request.namespace)
            names = {v["metadata"]["name"] for v in victims}
            await self._until_cached(machine_set, lambda now: all(
                is_deleting(m) for m in now if m["metadata"]["name"] in names))
        conditions.set("MachinesCreated", not problem, "TemplateCloningFailed", problem, only_v1beta1=True)
        conditions.set("ScalingUp", bool(problem) or len(machines) < wanted,
                       "TemplateCloningFailed" if problem else "NotScalingUp", problem)
        await self._write_status(machine_set, conditions)
        return Result(requeue_after_s=self._poll_s) if problem else Result()

    async def _metadata_patch(self, machine_set: Obj) -> Obj | None:
        meta: Obj = {}
        cluster_name = machine_set["spec"]["clusterName"]
        if labels_of(machine_set).get(CLUSTER_NAME_LABEL) != cluster_name:
            meta["labels"] = {CLUSTER_NAME_LABEL: cluster_name}
        refs = list(nested(machine_set, "metadata", "ownerReferences") or [])
        if not refs:  # a stand-alone MachineSet belongs to its Cluster
            cluster = await self._manager.client.get(CAPI_API_VERSION, "Cluster", cluster_name,
                                                     machine_set["metadata"]["namespace"])
            if cluster is not None:
                meta["ownerReferences"] = [owner_reference(cluster, controller=False)]
        if not meta:
            return None
        meta["resourceVersion"] = machine_set["metadata"]["resourceVersion"]
        return {"metadata": meta}

    async def _create_machine(self, machine_set: Obj) -> str:
        """Clone the bootstrap config and infra machine (named like the Machine), then create the Machine."""
        client = self._manager.client
        namespace, set_name = machine_set["metadata"]["namespace"], machine_set["metadata"]["name"]
        cluster_name = machine_set["spec"]["clusterName"]
        template = nested(machine_set, "spec", "template") or {}
        spec: dict[str, Any] = copy.deepcopy(template.get("spec") or {})
        name = f"{set_name}-{random_suffix()}"
        labels = {**(nested(template, "metadata", "labels") or {}), SET_NAME_LABEL: set_name,
                  CLUSTER_NAME_LABEL: cluster_name}
        deployment = labels_of(machine_set).get(DEPLOYMENT_NAME_LABEL)
        if deployment:
            labels[DEPLOYMENT_NAME_LABEL] = deployment
        annotations = dict(nested(template, "metadata", "annotations") or {})
        clone = {"namespace": namespace, "name": name, "labels": labels, "annotations": annotations,
                 "cluster_name": cluster_name, "owner": machine_set}
        clones: list[Obj] = []
        try:
            config_ref = nested(spec, "bootstrap", "configRef")
            if config_ref is not None:
                spec["bootstrap"]["configRef"] = await clone_template(self._manager, self._external, config_ref,
                                                                      **clone)
                clones.append(spec["bootstrap"]["configRef"])
            spec["infrastructureRef"] = await clone_template(self._manager, self._external,
                                                             spec["infrastructureRef"], **clone)
            clones.append(spec["infrastructureRef"])
            spec["clusterName"] = cluster_name
            await client.create({
                "apiVersion": CAPI_API_VERSION, "kind": "Machine",
                "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations,
                             "finalizers": [MACHINE_FINALIZER],
                             "ownerReferences": [owner_reference(machine_set, controller=True)]},
                "spec": spec,
            })
        except (MissingKind, TemplateMissing, APIError):
            for ref in clones:  # no orphaned clones for a Machine that never came to be
                await self._external.delete(ref, namespace)
            raise
        return name

    async def _write_status(self, machine_set: Obj, conditions: Conditions) -> None:
        machines = self._machines_of(machine_set)
        ready = sum(1 for m in machines if nested(m, "status", "nodeRef") and not is_deleting(m))
        match_labels = nested(machine_set, "spec", "selector", "matchLabels") or {}
        status = {
            "replicas": len(machines), "fullyLabeledReplicas": len(machines), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": machine_set["metadata"].get("generation"),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
            **conditions.status_patch(),
        }
        status["v1beta2"] = {**status["v1beta2"], "readyReplicas": ready, "availableReplicas": ready,
                             "upToDateReplicas": len(machines)}
        if needs_patch(machine_set.get("status"), status):
            meta = machine_set["metadata"]
            await self._manager.client.patch(CAPI_API_VERSION, "MachineSet", meta["name"], meta["namespace"], {
                "metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}, subresource="status")


def _deletion_priority(machine: Obj) -> tuple[int, str]:
    """Sort key, first deleted first: already deleting, marked for deletion, without a Node, then newest."""
    if is_deleting(machine):
        rank = 0
    elif DELETE_MACHINE_ANNOTATION in annotations_of(machine):
        rank = 1
    elif not nested(machine, "status", "nodeRef"):
        rank = 2
    else:
        rank = 3
    created = nested(machine, "metadata", "creationTimestamp") or ""
    # Newest first: invert the timestamp's characters so an ascending sort puts later times in front.
    return rank, "".join(chr(0x10FFFF - ord(c)) for c in created)
