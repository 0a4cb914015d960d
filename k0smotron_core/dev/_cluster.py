"""The management side: the embedded API server with the CRDs, the workload simulation and CAPI core."""

from __future__ import annotations

from pathlib import Path

from ..envtest import EnvTest
from ..envtest._install import install_manifests
from ..envtest.capi import CRDS_DIR as CAPI_CRDS_DIR
from ..envtest.capi import CAPISimulator
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


class Management:
    """`EnvTest(name="management")` on 127.0.0.1 with the project's and CAPI's CRDs, an admin kubeconfig at
    `kubeconfig_path`, the workload simulation (StatefulSets become Ready pods, k0s pods serve a child API server)
    and the CAPI core simulator. `start()` then `stop()`; stop undoes whatever start got to."""

    def __init__(self, kubeconfig_path: Path, *, port: int = 0, poll_s: float = 0.2) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.env = EnvTest(name="management", host="127.0.0.1", port=port)
        self.workloads = WorkloadSimulator(self.env, node_address="127.0.0.1")
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
        # CAPI core finds the child clusters the workload simulation serves through `<cluster>-kubeconfig`.
        self.capi = CAPISimulator(self.kubeconfig_path, poll_s=self._poll_s)
        await self.capi.start()

    async def stop(self) -> None:
        if self.capi is not None:
            await self.capi.stop()
            self.capi = None
        if self._workloads_started:
            await self.workloads.stop()
            self._workloads_started = False
        if self._started:
            await self.env.stop()
            self._started = False
