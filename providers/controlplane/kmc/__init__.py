"""The k0smotron.io Cluster ("KMC") controller: hosted k0s control planes as StatefulSets in the management cluster.

    await kmc.setup(manager, workloads=workloads)

registers the controller (it reconciles `k0smotron.io` Clusters and owns their StatefulSets, Services, ConfigMaps and
Secrets). See docs/controlplane.md, section "k0smotron.io Cluster".
"""

from __future__ import annotations

from k0smotron_core.api import k0smotron
from k0smotron_core.runtime import Manager
from k0smotron_core.runtime._workload import WorkloadClusters

from ._names import FIELD_MANAGER, FINALIZER
from .reconciler import ClusterReconciler

__all__ = ["FIELD_MANAGER", "FINALIZER", "ClusterReconciler", "setup"]


async def setup(manager: Manager, *, workloads: WorkloadClusters) -> None:
    reconciler = ClusterReconciler(manager.client, workloads)
    await (manager.controller("cluster")
           .reconciles(k0smotron.Cluster)
           .owns("apps/v1", "StatefulSet")
           .owns("v1", "Service")
           .owns("v1", "ConfigMap")
           .owns("v1", "Secret")
           .complete(reconciler.reconcile))
