"""CAPISimulator: CAPI core's controllers, run by the project's own runtime against a management envtest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType

from ...runtime import Manager, ManagerOptions
from ._child import ChildClusters
from ._cluster import ClusterController
from ._connection import SIMULATOR_NAME
from ._machine import MachineController
from ._machinedeployment import MachineDeploymentController
from ._machineset import MachineSetController
from ._workload import WorkloadClusters


class CAPISimulator:
    """The Cluster, Machine, MachineSet and MachineDeployment controllers of CAPI core, over HTTP like the real
    ones (providers under test see real watch events and audit entries by user `capi-simulator`'s token).

        async with CAPISimulator(kubeconfig, child_clusters=children) as capi:
            ...

    It reaches a Cluster's workload API server as CAPI core does, through the `<cluster>-kubeconfig` Secret; the
    `child_clusters` registry only keeps the child servers a test started (`initialized_control_plane`) so they are
    stopped with the environment. `poll_s` is how often objects that wait for something not watched (a CRD
    installed later, a kubeconfig Secret written later) are looked at again.
    """

    def __init__(self, env_kubeconfig: Path, *, child_clusters: ChildClusters | None = None,
                 poll_s: float = 0.2) -> None:
        self.child_clusters = child_clusters if child_clusters is not None else ChildClusters()
        self.manager = Manager(ManagerOptions(
            kubeconfig=str(env_kubeconfig), metrics_bind_address="0", health_probe_bind_address="0",
            user_agent=SIMULATOR_NAME, field_manager=SIMULATOR_NAME, graceful_shutdown_timeout_s=2.0,
            # No client-side rate limit: the simulator must never be what slows a test down.
            kube_api_qps=0.0,
            # The program embedding the simulator owns SIGINT/SIGTERM.
            handle_signals=False,
        ))
        self._poll_s = poll_s
        self._task: asyncio.Task[int] | None = None
        self._workloads: WorkloadClusters | None = None

    async def start(self) -> CAPISimulator:
        await self.manager.connect()
        self._workloads = WorkloadClusters(self.manager.client)
        machines = MachineController(self.manager, self._workloads, poll_s=self._poll_s)
        self._workloads.on_node = machines.on_node
        for controller in (ClusterController(self.manager, poll_s=self._poll_s), machines,
                           MachineSetController(self.manager, poll_s=self._poll_s),
                           MachineDeploymentController(self.manager)):
            await controller.setup()
        self._task = asyncio.create_task(self.manager.run(), name="capi-simulator")
        await self.manager.cache.wait_for_sync()
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self.manager.stop()
            await self._task
            self._task = None
        if self._workloads is not None:
            await self._workloads.close()
            self._workloads = None

    async def __aenter__(self) -> CAPISimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
