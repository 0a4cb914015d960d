"""kwok-like workload simulation for envtest: Nodes, StatefulSets, Deployments, ReplicaSets, a scheduler and
kubelet that report pods Running, LoadBalancer addresses, and k0s controller pods that serve a child API server.

    async with EnvTest() as env, WorkloadSimulator(env) as sim:
        ...

See docs/envtest.md, "Workload simulation".
"""

from __future__ import annotations

from ._runtimes import K0S_IMAGES, GenericRuntime, K0sControllerRuntime, PodRuntime, image_matches
from ._simulator import WorkloadSimulator, default_lb_addresses, is_ready, template_hash

__all__ = ["K0S_IMAGES", "GenericRuntime", "K0sControllerRuntime", "PodRuntime", "WorkloadSimulator",
           "default_lb_addresses", "image_matches", "is_ready", "template_hash"]
