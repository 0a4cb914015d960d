"""Cluster API core for envtest.

- Minimal CRDs of Cluster, Machine, MachineSet, MachineDeployment and MachineHealthCheck (generated from
  `k0smotron_core.api.capi`) in `CRDS_DIR`, so provider objects that reference them can be applied.
- `CAPISimulator`: CAPI core's Cluster, Machine, MachineSet and MachineDeployment controllers, run by
  `k0smotron_core.runtime` over HTTP against a management envtest, doing what providers rely on (spec §4.8).
- `ChildClusters` / `initialized_control_plane`: a second envtest per Cluster as its workload API server.
- `capi_environment()` (and the pytest plugin `k0smotron_core.envtest.capi.pytest_plugin`): all of it at once.
"""

from __future__ import annotations

from ._child import ChildCluster, ChildClusters, initialized_control_plane, start_child_cluster
from ._environment import CRDS_DIR, CAPIEnvironment, capi_environment
from ._simulator import CAPISimulator

__all__ = [
    "CRDS_DIR",
    "CAPIEnvironment",
    "CAPISimulator",
    "ChildCluster",
    "ChildClusters",
    "capi_environment",
    "initialized_control_plane",
    "start_child_cluster",
]
