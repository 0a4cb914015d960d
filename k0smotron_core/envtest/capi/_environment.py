"""A management cluster with CAPI core: envtest, the CAPI CRDs, and the simulator running against it."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from .._install import install_manifests
from .._server import EnvTest
from ._child import ChildCluster, ChildClusters, initialized_control_plane
from ._simulator import CAPISimulator

CRDS_DIR = Path(__file__).parent / "crds"


@dataclass
class CAPIEnvironment:
    env: EnvTest
    """The management cluster."""
    kubeconfig: Path
    """An admin kubeconfig for it (give it to the providers under test)."""
    simulator: CAPISimulator

    @property
    def child_clusters(self) -> ChildClusters:
        return self.simulator.child_clusters

    async def child_cluster(self, cluster: str, namespace: str = "default", *, host: str = "127.0.0.1"
                            ) -> ChildCluster:
        """Start a child API server for an existing Cluster (listening on `host`) and mark its control plane
        initialized."""
        return await initialized_control_plane(self.env, cluster=cluster, namespace=namespace,
                                               child_clusters=self.child_clusters, host=host)


@asynccontextmanager
async def capi_environment(*, poll_s: float = 0.1, kubeconfig_dir: Path | None = None
                           ) -> AsyncIterator[CAPIEnvironment]:
    """Everything torn down on exit, child clusters included."""
    with tempfile.TemporaryDirectory(prefix="capi-envtest-") as scratch:
        async with EnvTest(name="management") as env:
            await install_manifests(env, CRDS_DIR)
            kubeconfig = env.write_kubeconfig((kubeconfig_dir or Path(scratch)) / "management.kubeconfig")
            simulator = CAPISimulator(kubeconfig, poll_s=poll_s)
            try:
                async with simulator:
                    yield CAPIEnvironment(env, kubeconfig, simulator)
            finally:
                await simulator.child_clusters.stop_all()
