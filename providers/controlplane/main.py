"""The `k0smotron-controlplane` binary: the Cluster API control plane provider for k0s.

It runs the hosted control plane: K0smotronControlPlane, the k0smotron.io Cluster it owns (StatefulSets, Services,
certificates, kubeconfig) and JoinTokenRequest. K0sControlPlane (control planes on machines) is not implemented.
"""

from __future__ import annotations

import argparse
from typing import Any

from k0smotron_core.api import capi, controlplane, k0smotron
from k0smotron_core.runtime import CacheSelector, Manager, Provider, Request, run_provider
from k0smotron_core.runtime._workload import WorkloadClusters

from . import jointokenrequest, kmc, kmcp

CAPI = "cluster.x-k8s.io/v1beta1"


def _kmc_to_control_plane(obj: dict[str, Any]) -> list[Request]:
    namespace = obj["metadata"].get("namespace") or ""
    return [Request(namespace, ref["name"]) for ref in obj["metadata"].get("ownerReferences") or ()
            if ref.get("kind") == kmcp.KIND
            and str(ref.get("apiVersion", "")).startswith("controlplane.cluster.x-k8s.io/")]


def _cluster_to_control_plane(cluster: dict[str, Any]) -> list[Request]:
    ref = (cluster.get("spec") or {}).get("controlPlaneRef") or {}
    if ref.get("kind") != kmcp.KIND:
        return []
    return [Request(ref.get("namespace") or cluster["metadata"].get("namespace") or "", ref["name"])]


def restrict_cache(manager: Manager) -> None:
    """Cache only what the controllers read: a management cluster has many Pods, Secrets and ConfigMaps that are
    not ours, and holding them all would cost memory proportional to the whole cluster. Everything the KMC
    controller generates carries `app=k0smotron`; the Secrets it and CAPI share carry the cluster-name label; the
    control plane status comes from the control plane pods. Reads of anything else go to the server."""
    by_kind = manager.cache.options.by_kind
    by_kind[("v1", "Secret")] = CacheSelector(label_selector=capi.CLUSTER_NAME_LABEL)
    by_kind[("v1", "Pod")] = CacheSelector(label_selector=kmcp.CONTROL_PLANE_LABEL)
    for kind in (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "StatefulSet")):
        by_kind[kind] = CacheSelector(label_selector="app=k0smotron")


async def _setup(manager: Manager, args: argparse.Namespace) -> None:
    restrict_cache(manager)
    # Each hosted cluster is checked only now and then: a connection kept open to each would cost more memory than
    # the handshakes cost CPU.
    workloads = WorkloadClusters(manager.client, user_agent=manager.options.user_agent,
                                 qps=manager.options.kube_api_qps, burst=manager.options.kube_api_burst,
                                 keepalive_s=0)
    manager.on_shutdown(workloads.close)
    await kmc.setup(manager, workloads=workloads)

    control_planes = kmcp.K0smotronControlPlaneReconciler(manager.client, workloads)
    await (manager.controller("k0smotroncontrolplane")
           .reconciles(controlplane.K0smotronControlPlane)
           .watches(k0smotron.Cluster.crd.api_version, "Cluster", _kmc_to_control_plane)
           .watches(CAPI, "Cluster", _cluster_to_control_plane)
           .with_concurrency(10)
           .complete(control_planes.reconcile))

    join_tokens = jointokenrequest.JoinTokenRequestReconciler(manager.client, workloads)
    await (manager.controller("jointokenrequest")
           .reconciles(k0smotron.JoinTokenRequest)
           .complete(join_tokens.reconcile))


PROVIDER = Provider(
    prog="k0smotron-controlplane",
    role="control-plane",
    description=("Cluster API control plane provider for k0s: k0s control planes hosted as pods in the management "
                 "cluster (K0smotronControlPlane, k0smotron.io Cluster, JoinTokenRequest)."),
    feature_gates={"CloudInitVars": False, "InPlaceUpdates": False},
    setup=_setup,
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
