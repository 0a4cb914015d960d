"""The ProviderID controller: gives the workload cluster's Node of a RemoteMachine-backed Machine its providerID.

There is no cloud provider on such hosts to set `Node.spec.providerID`, and Cluster API finds a Machine's Node (to
set `nodeRef`) by that field. So once the Machine has its providerID (copied by core from the RemoteMachine), the
Node that belongs to it — named after the Machine, labelled `k0smotron.io/machine-name=<machine>` by the bootstrap,
or carrying one of the Machine's addresses — gets the providerID and the label. Nodes are not watched (they live in
the workload cluster), so a Machine without its Node yet is looked at again every few seconds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import structlog

from k0smotron_core.runtime import APIError, Client, ConnectionFailed, Request, Result
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

log = structlog.get_logger("k0smotron.infrastructure.providerid")

CAPI = "cluster.x-k8s.io/v1beta1"
MACHINE_NAME_LABEL = "k0smotron.io/machine-name"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
INFRA_KIND = "RemoteMachine"
LOOK_AGAIN_S = 10.0


class ProviderIDReconciler:
    def __init__(self, client: Client, workloads: WorkloadClusters) -> None:
        self._client = client
        self._workloads = workloads

    async def reconcile(self, request: Request) -> Result:
        machine = await self._client.get(CAPI, "Machine", request.name, request.namespace)
        if machine is None or machine["metadata"].get("deletionTimestamp") or not _remote_machine_backed(machine):
            return Result()
        provider_id = (machine.get("spec") or {}).get("providerID")
        if not provider_id or ((machine.get("status") or {}).get("nodeRef") or {}).get("name"):
            # No providerID yet (its update wakes us), or core found the Node already.
            return Result()
        cluster = (machine["metadata"].get("labels") or {}).get(CLUSTER_NAME_LABEL) or machine["spec"].get(
            "clusterName")
        try:
            transport = await self._workloads.transport(request.namespace, cluster)
            listed = await transport.request("GET", "/api/v1/nodes")
            nodes: list[dict[str, Any]] = listed.get("items") or []
            if any((node.get("spec") or {}).get("providerID") == provider_id for node in nodes):
                return Result()
            node = _matching_node(machine, nodes)
            if node is None:
                return Result(requeue_after_s=LOOK_AGAIN_S)
            if (node.get("spec") or {}).get("providerID"):
                log.info("node already has another providerID", machine=request.name, node=node["metadata"]["name"])
                return Result()
            await transport.request("PATCH", f"/api/v1/nodes/{node['metadata']['name']}", body={
                "metadata": {"labels": {MACHINE_NAME_LABEL: machine["metadata"]["name"]},
                             "resourceVersion": node["metadata"]["resourceVersion"]},
                "spec": {"providerID": provider_id}}, content_type="application/merge-patch+json")
            log.info("node providerID set", machine=request.name, node=node["metadata"]["name"])
        except (WorkloadClusterUnavailable, ConnectionFailed) as error:
            log.info("workload cluster not reachable", machine=request.name, reason=str(error))
            return Result(requeue_after_s=LOOK_AGAIN_S)
        except APIError as error:
            if not error.conflict:
                raise
            return Result(requeue=True)
        return Result()


def _remote_machine_backed(machine: dict[str, Any]) -> bool:
    ref = (machine.get("spec") or {}).get("infrastructureRef") or {}
    return ref.get("kind") == INFRA_KIND and str(ref.get("apiVersion", "")).startswith(
        "infrastructure.cluster.x-k8s.io/")


def _matching_node(machine: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    name = machine["metadata"]["name"]
    addresses = {a.get("address") for a in (machine.get("status") or {}).get("addresses") or ()
                 if a.get("address") and not _loopback(str(a["address"]))}
    for node in nodes:
        if node["metadata"]["name"] == name or (node["metadata"].get("labels") or {}).get(MACHINE_NAME_LABEL) == name:
            return node
    for node in nodes:
        if addresses & {a.get("address") for a in (node.get("status") or {}).get("addresses") or ()}:
            return node
    return None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"
