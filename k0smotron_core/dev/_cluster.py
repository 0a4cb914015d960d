"""The management side: the embedded API server with the CRDs, the workload simulation and CAPI core."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..envtest import EnvTest
from ..envtest._install import install_manifests
from ..envtest.capi import CRDS_DIR as CAPI_CRDS_DIR
from ..envtest.capi import CAPISimulator, ChildCluster, ChildClusters
from ..envtest.workloads import WorkloadSimulator

CAPI = "cluster.x-k8s.io/v1beta1"


class SetupError(Exception):
    """Something the management cluster needs is missing; the message says what."""


def project_crds_dir() -> Path:
    """`crds/` of the source tree this package lives in."""
    candidate = Path(__file__).resolve().parents[2] / "crds"
    if not candidate.is_dir() or not any(candidate.glob("*.yaml")):
        raise SetupError(f"the project's CRDs are not at {candidate}: k0smotron-dev runs from a source checkout "
                         "(pip install -e .); regenerate them with `make crds`")
    return candidate


@dataclass
class ChildrenByEndpoint(ChildClusters):
    """CAPI core's view of the child clusters: the child API server a Cluster's `spec.controlPlaneEndpoint` leads
    to, among those the workload simulation runs for k0s pods (real CAPI core reads `<cluster>-kubeconfig`; the
    simulator asks this registry)."""

    management: EnvTest | None = None
    servers: dict[tuple[str, str], EnvTest] = field(default_factory=dict)
    """The workload simulation's child API servers (its `child_clusters`)."""

    def get(self, namespace: str, cluster: str) -> ChildCluster | None:
        known = super().get(namespace, cluster)
        if known is not None and known.env in self.servers.values():
            return known
        endpoint = None
        if self.management is not None:
            obj = self.management.get(CAPI, "Cluster", cluster, namespace)
            endpoint = ((obj or {}).get("spec") or {}).get("controlPlaneEndpoint") or {}
        if not endpoint or not endpoint.get("port"):
            return None
        servers = sorted(self.servers.values(), key=lambda s: s.host != endpoint.get("host"))
        for server in servers:  # by port: the endpoint's host may be another name of the same node
            if server.port == endpoint["port"]:
                # Registered without add(): the workload simulation owns the server and stops it.
                self._by_cluster[(namespace, cluster)] = ChildCluster(namespace, cluster, server, server.ca)
                return self._by_cluster[(namespace, cluster)]
        return None

    async def stop_all(self) -> None:
        self._by_cluster.clear()


class Management:
    """`EnvTest(name="management")` on 127.0.0.1 with the project's and CAPI's CRDs, an admin kubeconfig at
    `kubeconfig_path`, the workload simulation (StatefulSets become Ready pods, k0s pods serve a child API server)
    and the CAPI core simulator. `start()` then `stop()`; stop undoes whatever start got to."""

    def __init__(self, kubeconfig_path: Path, *, port: int = 0, poll_s: float = 0.2) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.env = EnvTest(name="management", host="127.0.0.1", port=port)
        self.workloads = WorkloadSimulator(self.env, node_address="127.0.0.1")
        self.child_clusters = ChildrenByEndpoint(management=self.env, servers=self.workloads.child_clusters)
        self.capi: CAPISimulator | None = None
        self._workloads_started = False
        self._poll_s = poll_s
        self._started = False

    async def start(self) -> None:
        crds = project_crds_dir()
        await self.env.start()
        self._started = True
        await install_manifests(self.env, CAPI_CRDS_DIR)
        await install_manifests(self.env, crds)
        self.env.write_kubeconfig(self.kubeconfig_path)
        await self.workloads.start()
        self._workloads_started = True
        self.capi = CAPISimulator(self.kubeconfig_path, child_clusters=self.child_clusters, poll_s=self._poll_s)
        await self.capi.start()

    async def stop(self) -> None:
        if self.capi is not None:
            await self.capi.stop()
            self.capi = None
        if self._workloads_started:
            await self.workloads.stop()
            self._workloads_started = False
        await self.child_clusters.stop_all()
        if self._started:
            await self.env.stop()
            self._started = False
