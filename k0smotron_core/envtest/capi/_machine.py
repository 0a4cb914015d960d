"""The Machine controller of CAPI core, as far as providers can observe it (spec §4.3, §1.2, §3.2)."""

from __future__ import annotations

from typing import Any

from ...runtime import APIError, Client, Manager, Request, Result, field_index
from ...runtime._controller import Controller
from ._external import ExternalObjects, MissingKind, adopt, owners_of_kind
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
    now,
    owner_reference,
)
from ._races import tolerating_races
from ._workload import WorkloadClusters

MACHINE_FINALIZER = "machine.cluster.x-k8s.io"
PRE_TERMINATE_HOOK_PREFIX = "pre-terminate.delete.hook.machine.cluster.x-k8s.io"
# Machines carrying one of these labels belong to a MachineSet, MachinePool or control plane: never adopted.
_OWNED_MACHINE_LABELS = ("cluster.x-k8s.io/set-name", "cluster.x-k8s.io/pool-name",
                         "cluster.x-k8s.io/control-plane-name")
_PROVIDER_ID_INDEX = "providerID"


class MachineController:
    def __init__(self, manager: Manager, workloads: WorkloadClusters, *, poll_s: float) -> None:
        self._manager = manager
        self._workloads = workloads
        self._poll_s = poll_s
        self._external = ExternalObjects(manager, owners_of_kind("Machine"))
        self._controller: Controller | None = None

    async def setup(self) -> None:
        machines = await self._manager.cache.informer(CAPI_API_VERSION, "Machine")
        machines.add_index(_PROVIDER_ID_INDEX, field_index("spec", "providerID"))
        self._controller = await (
            self._manager.controller("machine")
            .reconciles((CAPI_API_VERSION, "Machine"))
            .watches(CAPI_API_VERSION, "Cluster", self._cluster_to_machines)
            .complete(tolerating_races(self.reconcile))
        )
        self._external.controller = self._controller

    def _cluster_to_machines(self, cluster: Obj) -> list[Request]:
        informer = self._manager.cache.cached(CAPI_API_VERSION, "Machine")
        namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        return [Request(namespace, m["metadata"]["name"]) for m in (informer.objects(namespace) if informer else ())
                if nested(m, "spec", "clusterName") == name]

    def on_node(self, namespace: str, cluster: str, node: Obj) -> None:
        """A Node of a child cluster changed: look again at the Machines with its providerID."""
        provider_id = nested(node, "spec", "providerID")
        informer = self._manager.cache.cached(CAPI_API_VERSION, "Machine")
        if not provider_id or informer is None or self._controller is None:
            return
        for machine in informer.by_index(_PROVIDER_ID_INDEX, provider_id):
            if machine["metadata"].get("namespace") == namespace and nested(machine, "spec", "clusterName") == cluster:
                self._controller.enqueue(Request(namespace, machine["metadata"]["name"]))

    # --- reconcile ---------------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result:
        client = self._manager.client
        machine = await client.get(CAPI_API_VERSION, "Machine", request.name, request.namespace)
        if machine is None:
            return Result()
        if is_deleting(machine):
            return await self._delete(machine)
        cluster = await client.get(CAPI_API_VERSION, "Cluster", machine["spec"]["clusterName"], request.namespace)
        metadata = _metadata_patch(machine, cluster)
        if metadata is not None:
            machine = await client.patch(CAPI_API_VERSION, "Machine", request.name, request.namespace, metadata)

        conditions = Conditions(machine)
        spec: dict[str, Any] = {}
        status: dict[str, Any] = {}
        await self._bootstrap(machine, conditions, spec, status)
        await self._infrastructure(machine, conditions, spec, status)
        if spec:
            machine = await client.patch(CAPI_API_VERSION, "Machine", request.name, request.namespace, {
                "metadata": {"resourceVersion": machine["metadata"]["resourceVersion"]}, "spec": spec})
        node = await self._node(machine, cluster, conditions, status)

        running = bool(node) and status["infrastructureReady"]
        ready = running and status["bootstrapReady"]
        conditions.set("Ready", ready, "Ready" if ready else "NotReady")
        status.update(conditions.status_patch())
        status["phase"] = _phase(machine, status)
        status["observedGeneration"] = machine["metadata"].get("generation")
        if status["phase"] != nested(machine, "status", "phase"):
            status["lastUpdated"] = now()
        if needs_patch(machine.get("status"), status):
            await client.patch(CAPI_API_VERSION, "Machine", request.name, request.namespace, {
                "metadata": {"resourceVersion": machine["metadata"]["resourceVersion"]}, "status": status},
                subresource="status")
        # Provider objects and child Nodes are watched; polling covers kinds and children that appear later.
        return Result() if running else Result(requeue_after_s=self._poll_s)

    async def _referenced(self, machine: Obj, ref: Obj) -> tuple[Obj | None, str]:
        """The referenced provider object, now controlled by the Machine; or None and why."""
        namespace = machine["metadata"]["namespace"]
        try:
            obj = await self._external.get(ref, namespace)
        except MissingKind as error:
            return None, str(error)
        if obj is None:
            return None, f"{ref['kind']} {namespace}/{ref['name']} does not exist"
        # The MachineSet or control plane that created the object hands it over to the Machine.
        creator = controller_of(machine)
        await adopt(self._manager, obj["apiVersion"], obj, machine, controller=True,
                    cluster_name=machine["spec"]["clusterName"], drop_uids=(creator["uid"],) if creator else ())
        return obj, ""

    async def _bootstrap(self, machine: Obj, conditions: Conditions, spec: Obj, status: Obj) -> None:
        data_secret_name = nested(machine, "spec", "bootstrap", "dataSecretName")
        ref = nested(machine, "spec", "bootstrap", "configRef")
        ready, reason, message = bool(data_secret_name), "WaitingForBootstrapData", ""
        if ref is not None:
            config, message = await self._referenced(machine, ref)
            if config is None:
                reason = "BootstrapConfigDoesNotExist"
            elif not ready and (nested(config, "status", "ready")
                                or nested(config, "status", "initialization", "dataSecretCreated")):
                secret_name = nested(config, "status", "dataSecretName")
                if secret_name:
                    spec["bootstrap"] = {"dataSecretName": secret_name}
                    ready = True
                else:
                    message = f"{ref['kind']} reports ready but has no status.dataSecretName"
            elif not ready:
                message = f"{ref['kind']} status.ready is not true"
        conditions.set("BootstrapReady", ready, reason, message, v1beta2_type="BootstrapConfigReady")
        status["bootstrapReady"] = ready
        status.setdefault("initialization", {})["bootstrapDataSecretCreated"] = ready

    async def _infrastructure(self, machine: Obj, conditions: Conditions, spec: Obj, status: Obj) -> None:
        ref = machine["spec"]["infrastructureRef"]
        latched = bool(nested(machine, "status", "infrastructureReady"))
        infra, message = await self._referenced(machine, ref)
        ready = latched
        if infra is not None:
            ready = latched or bool(nested(infra, "status", "ready")
                                    or nested(infra, "status", "initialization", "provisioned"))
            if not ready:
                message = f"{ref['kind']} status.ready is not true"
            else:
                provider_id = nested(infra, "spec", "providerID")
                if provider_id and provider_id != nested(machine, "spec", "providerID"):
                    spec["providerID"] = provider_id
                failure_domain = nested(infra, "spec", "failureDomain")
                if failure_domain and not nested(machine, "spec", "failureDomain"):
                    spec["failureDomain"] = failure_domain
                addresses = nested(infra, "status", "addresses")
                if addresses is not None:
                    status["addresses"] = addresses
        conditions.set("InfrastructureReady", ready, "WaitingForInfrastructure", message)
        status["infrastructureReady"] = ready
        status.setdefault("initialization", {})["infrastructureProvisioned"] = ready

    async def _node(self, machine: Obj, cluster: Obj | None, conditions: Conditions, status: Obj) -> Obj | None:
        """The child cluster's Node with the Machine's providerID (and the nodeRef set), or None."""
        provider_id = nested(machine, "spec", "providerID")
        namespace, cluster_name = machine["metadata"]["namespace"], machine["spec"]["clusterName"]
        workload = await self._workloads.get(namespace, cluster_name) if provider_id else None
        node = None
        if workload is not None:
            nodes = await workload.client.list("v1", "Node")
            node = next((n for n in nodes if nested(n, "spec", "providerID") == provider_id), None)
        if node is None:
            reason = "NodeDoesNotExist" if workload is not None else "WaitingForClusterConnection"
            conditions.set("NodeHealthy", False, reason, "" if provider_id else "waiting for spec.providerID")
            return None
        status["nodeRef"] = {"apiVersion": "v1", "kind": "Node", "name": node["metadata"]["name"],
                             "uid": node["metadata"]["uid"]}
        if nested(node, "status", "nodeInfo"):
            status["nodeInfo"] = node["status"]["nodeInfo"]
        node_ready = next((c for c in nested(node, "status", "conditions") or () if c.get("type") == "Ready"), None)
        healthy = node_ready is None or node_ready.get("status") == "True"
        conditions.set("NodeHealthy", healthy, "NodeNotReady")
        await _annotate_node(workload.client if workload else None, node, machine)
        return node

    # --- deletion ----------------------------------------------------------------------------------------

    async def _delete(self, machine: Obj) -> Result:
        """Core's order: pre-terminate hooks, infrastructure (gone), bootstrap config (gone), Node, finalizer."""
        client = self._manager.client
        namespace, name = machine["metadata"]["namespace"], machine["metadata"]["name"]
        if MACHINE_FINALIZER not in (nested(machine, "metadata", "finalizers") or ()):
            return Result()
        conditions = Conditions(machine)
        hooks = sorted(a for a in annotations_of(machine) if a.startswith(PRE_TERMINATE_HOOK_PREFIX))
        deletion = dict(nested(machine, "status", "deletion") or {})
        if hooks:
            deletion.setdefault("waitForPreTerminateHookStartTime", now())
        conditions.set("Deleting", True, "WaitingForPreTerminateHook" if hooks else "Deleting",
                       f"waiting for {', '.join(hooks)}" if hooks else "")
        status = {"phase": "Deleting", "deletion": deletion, **conditions.status_patch()}
        if needs_patch(machine.get("status"), status):
            machine = await client.patch(CAPI_API_VERSION, "Machine", name, namespace, {"status": status},
                                         subresource="status")
        if hooks:
            return Result()  # removing a hook annotation is an update of the Machine: it reconciles again then
        for ref in (nested(machine, "spec", "infrastructureRef"), nested(machine, "spec", "bootstrap", "configRef")):
            if ref is None:
                continue
            try:
                if await self._external.delete(ref, namespace):
                    return Result(requeue_after_s=self._poll_s)
            except MissingKind:
                pass
        await self._delete_node(machine)
        finalizers = [f for f in nested(machine, "metadata", "finalizers") or [] if f != MACHINE_FINALIZER]
        await client.patch(CAPI_API_VERSION, "Machine", name, namespace, {"metadata": {
            "finalizers": finalizers, "resourceVersion": machine["metadata"]["resourceVersion"]}})
        return Result()

    async def _delete_node(self, machine: Obj) -> None:
        node_name = nested(machine, "status", "nodeRef", "name")
        namespace, cluster_name = machine["metadata"]["namespace"], machine["spec"]["clusterName"]
        cluster = await self._manager.client.get(CAPI_API_VERSION, "Cluster", cluster_name, namespace)
        # A Cluster on its way out takes its Nodes with it: core does not delete them one by one then.
        if not node_name or cluster is None or is_deleting(cluster):
            return
        workload = await self._workloads.get(namespace, cluster_name)
        if workload is not None:
            await workload.client.delete("v1", "Node", node_name)


def _metadata_patch(machine: Obj, cluster: Obj | None) -> Obj | None:
    """Finalizer, cluster-name label, and (for stand-alone Machines) a Cluster owner reference."""
    meta: Obj = {}
    finalizers = list(nested(machine, "metadata", "finalizers") or [])
    if MACHINE_FINALIZER not in finalizers:
        meta["finalizers"] = [*finalizers, MACHINE_FINALIZER]
    cluster_name = machine["spec"]["clusterName"]
    labels = labels_of(machine)
    if labels.get(CLUSTER_NAME_LABEL) != cluster_name:
        meta["labels"] = {CLUSTER_NAME_LABEL: cluster_name}
    refs = list(nested(machine, "metadata", "ownerReferences") or [])
    orphan = (controller_of(machine) is None and not any(r.get("kind") == "Cluster" for r in refs)
              and not any(label in labels for label in _OWNED_MACHINE_LABELS))
    if orphan and cluster is not None:
        meta["ownerReferences"] = [*refs, owner_reference(cluster, controller=False)]
    if not meta:
        return None
    meta["resourceVersion"] = machine["metadata"]["resourceVersion"]
    return {"metadata": meta}


def _phase(machine: Obj, status: Obj) -> str:
    if status.get("nodeRef") and status["infrastructureReady"]:
        return "Running"
    if nested(machine, "spec", "providerID") and status["infrastructureReady"]:
        return "Provisioned"
    if status["bootstrapReady"]:
        return "Provisioning"
    return "Pending"


async def _annotate_node(client: Client | None, node: Obj, machine: Obj) -> None:
    """The annotations core puts on a workload Node (cluster-autoscaler and others find the Machine by them)."""
    owner = controller_of(machine)
    wanted = {
        "cluster.x-k8s.io/cluster-name": machine["spec"]["clusterName"],
        "cluster.x-k8s.io/cluster-namespace": machine["metadata"]["namespace"],
        "cluster.x-k8s.io/machine": machine["metadata"]["name"],
    }
    if owner is not None:
        wanted.update({"cluster.x-k8s.io/owner-kind": owner["kind"], "cluster.x-k8s.io/owner-name": owner["name"]})
    if client is None or not needs_patch(annotations_of(node), wanted):
        return
    try:
        await client.patch("v1", "Node", node["metadata"]["name"], "", {"metadata": {"annotations": wanted}})
    except APIError as error:
        if not error.not_found:
            raise
