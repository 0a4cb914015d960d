"""The Cluster controller of CAPI core, as far as providers can observe it (spec §4.2, §3.1, §2.2)."""

from __future__ import annotations

from typing import Any

from ...runtime import Manager, Request, Result
from ._external import ExternalObjects, MissingKind, adopt, owners_of_kind
from ._objects import (
    CAPI_API_VERSION,
    CLUSTER_NAME_LABEL,
    Conditions,
    Obj,
    condition_is_true,
    is_deleting,
    needs_patch,
    nested,
    valid_endpoint,
)
from ._races import tolerating_races

CLUSTER_FINALIZER = "cluster.cluster.x-k8s.io"
CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
# Deleted before the control plane and infrastructure, as core does (newest-level objects first).
_DESCENDANT_KINDS = ("MachineDeployment", "MachineSet", "Machine")


class ClusterController:
    def __init__(self, manager: Manager, *, poll_s: float) -> None:
        self._manager = manager
        self._poll_s = poll_s
        self._external = ExternalObjects(manager, owners_of_kind("Cluster"))

    async def setup(self) -> None:
        self._external.controller = await (
            self._manager.controller("cluster")
            .reconciles((CAPI_API_VERSION, "Cluster"))
            .watches(CAPI_API_VERSION, "Machine", _control_plane_machine_to_cluster)
            .complete(tolerating_races(self.reconcile))
        )

    async def reconcile(self, request: Request) -> Result:
        client = self._manager.client
        cluster = await client.get(CAPI_API_VERSION, "Cluster", request.name, request.namespace)
        if cluster is None:
            return Result()
        if is_deleting(cluster):
            return await self._delete(cluster)
        finalizers = nested(cluster, "metadata", "finalizers") or []
        if CLUSTER_FINALIZER not in finalizers:
            await client.patch(CAPI_API_VERSION, "Cluster", request.name, request.namespace, {"metadata": {
                "finalizers": [*finalizers, CLUSTER_FINALIZER],
                "resourceVersion": cluster["metadata"]["resourceVersion"]}})
            return Result()

        conditions = Conditions(cluster)
        infra = await self._infrastructure(cluster, conditions)
        control_plane = await self._control_plane(cluster, conditions)

        endpoint = nested(cluster, "spec", "controlPlaneEndpoint")
        if not valid_endpoint(endpoint):
            endpoint = next((e for e in (infra.get("endpoint"), control_plane.get("endpoint")) if valid_endpoint(e)),
                            None)
            if endpoint is not None:
                cluster = await client.patch(CAPI_API_VERSION, "Cluster", request.name, request.namespace, {
                    "metadata": {"resourceVersion": cluster["metadata"]["resourceVersion"]},
                    "spec": {"controlPlaneEndpoint": endpoint}})

        status: dict[str, Any] = {
            "phase": _phase(cluster, infra["ready"], valid_endpoint(endpoint)),
            "infrastructureReady": infra["ready"],
            "controlPlaneReady": control_plane["ready"],
            "initialization": {"infrastructureProvisioned": infra["ready"],
                               "controlPlaneInitialized": control_plane["initialized"]},
            "observedGeneration": cluster["metadata"].get("generation"),
        }
        if infra.get("failureDomains"):
            status["failureDomains"] = infra["failureDomains"]
        ready = infra["ready"] and (control_plane["ready"] if nested(cluster, "spec", "controlPlaneRef")
                                    else control_plane["initialized"])
        conditions.set("Ready", ready, "Ready" if ready else "NotReady")
        status.update(conditions.status_patch())
        if needs_patch(cluster.get("status"), status):
            await client.patch(CAPI_API_VERSION, "Cluster", request.name, request.namespace, {
                "metadata": {"resourceVersion": cluster["metadata"]["resourceVersion"]}, "status": status},
                subresource="status")
        if not (infra["ready"] and control_plane["initialized"]):
            # Provider objects' kinds are watched, but a kind installed later is only noticed by looking again.
            return Result(requeue_after_s=self._poll_s)
        return Result()

    async def _infrastructure(self, cluster: Obj, conditions: Conditions) -> dict[str, Any]:
        latched = bool(nested(cluster, "status", "infrastructureReady")
                       or nested(cluster, "status", "initialization", "infrastructureProvisioned"))
        ref = nested(cluster, "spec", "infrastructureRef")
        if ref is None:
            # No infrastructure object (v1beta2 allows it): core then calls the infrastructure provisioned itself.
            conditions.set("InfrastructureReady", True, "Provisioned")
            return {"ready": True}
        infra, problem = await self._referenced(cluster, ref)
        if infra is None:
            conditions.set("InfrastructureReady", latched, "InfrastructureDoesNotExist", problem,
                           v1beta2_type="InfrastructureReady")
            return {"ready": latched}
        ready = latched or bool(nested(infra, "status", "ready")
                                or nested(infra, "status", "initialization", "provisioned"))
        conditions.set("InfrastructureReady", ready, "Provisioned" if ready else "WaitingForInfrastructure",
                       "" if ready else f"{ref['kind']} status.ready is not true")
        return {"ready": ready, "endpoint": nested(infra, "spec", "controlPlaneEndpoint") if ready else None,
                "failureDomains": nested(infra, "status", "failureDomains") if ready else None}

    async def _control_plane(self, cluster: Obj, conditions: Conditions) -> dict[str, Any]:
        # Latched: once initialized (by the control plane object or by a test marking it), it stays so.
        initialized = bool(condition_is_true(cluster, "ControlPlaneInitialized")
                           or nested(cluster, "status", "initialization", "controlPlaneInitialized"))
        ref = nested(cluster, "spec", "controlPlaneRef")
        result: dict[str, Any] = {"ready": bool(nested(cluster, "status", "controlPlaneReady")) or initialized}
        if ref is None:
            initialized = initialized or await self._control_plane_machine_has_node(cluster)
            result["ready"] = initialized
        else:
            control_plane, problem = await self._referenced(cluster, ref)
            if control_plane is not None:
                initialized = initialized or bool(
                    nested(control_plane, "status", "initialized")
                    or nested(control_plane, "status", "initialization", "controlPlaneInitialized"))
                result["ready"] = bool(nested(control_plane, "status", "ready")) or result["ready"]
                result["endpoint"] = nested(control_plane, "spec", "controlPlaneEndpoint")
            conditions.set("ControlPlaneReady", result["ready"], "WaitingForControlPlane", problem,
                           only_v1beta1=True)
        result["initialized"] = initialized
        conditions.set("ControlPlaneInitialized", initialized, "WaitingForControlPlaneInitialized")
        return result

    async def _referenced(self, cluster: Obj, ref: Obj) -> tuple[Obj | None, str]:
        """The referenced provider object, now owned by the Cluster; or None and why."""
        namespace = cluster["metadata"]["namespace"]
        try:
            obj = await self._external.get(ref, namespace)
        except MissingKind as error:
            return None, str(error)
        if obj is None:
            return None, f"{ref['kind']} {namespace}/{ref['name']} does not exist"
        await adopt(self._manager, obj["apiVersion"], obj, cluster, controller=True,
                    cluster_name=cluster["metadata"]["name"])
        return obj, ""

    async def _control_plane_machine_has_node(self, cluster: Obj) -> bool:
        machines = await self._manager.client.list(CAPI_API_VERSION, "Machine", cluster["metadata"]["namespace"],
                                                    labels={CLUSTER_NAME_LABEL: cluster["metadata"]["name"]})
        return any(CONTROL_PLANE_LABEL in (nested(m, "metadata", "labels") or {}) and nested(m, "status", "nodeRef")
                   for m in machines)

    async def _delete(self, cluster: Obj) -> Result:
        """Core's order: descendants, then the control plane, then the infrastructure, then the finalizer."""
        client = self._manager.client
        namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        status = {"phase": "Deleting"}
        if needs_patch(cluster.get("status"), status):
            cluster = await client.patch(CAPI_API_VERSION, "Cluster", name, namespace, {"status": status},
                                         subresource="status")
        remaining = False
        for kind in _DESCENDANT_KINDS:
            for obj in await client.list(CAPI_API_VERSION, kind, namespace, labels={CLUSTER_NAME_LABEL: name}):
                remaining = True
                if not is_deleting(obj):
                    await client.delete(CAPI_API_VERSION, kind, obj["metadata"]["name"], namespace)
        if remaining:
            return Result(requeue_after_s=self._poll_s)
        for ref_field in ("controlPlaneRef", "infrastructureRef"):
            ref = nested(cluster, "spec", ref_field)
            if ref is not None:
                try:
                    if await self._external.delete(ref, namespace):
                        return Result(requeue_after_s=self._poll_s)
                except MissingKind:
                    pass
        finalizers = [f for f in nested(cluster, "metadata", "finalizers") or [] if f != CLUSTER_FINALIZER]
        await client.patch(CAPI_API_VERSION, "Cluster", name, namespace, {"metadata": {
            "finalizers": finalizers, "resourceVersion": cluster["metadata"]["resourceVersion"]}})
        return Result()


def _phase(cluster: Obj, infra_ready: bool, endpoint_valid: bool) -> str:
    if infra_ready and endpoint_valid:
        return "Provisioned"
    if nested(cluster, "spec", "infrastructureRef") or nested(cluster, "spec", "controlPlaneRef"):
        return "Provisioning"
    return "Pending"


def _control_plane_machine_to_cluster(machine: Obj) -> list[Request]:
    labels = nested(machine, "metadata", "labels") or {}
    cluster_name = nested(machine, "spec", "clusterName")
    if CONTROL_PLANE_LABEL not in labels or not cluster_name:
        return []
    return [Request(machine["metadata"].get("namespace") or "", cluster_name)]
