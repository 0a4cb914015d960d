"""K0sWorkerConfig: bootstrap data for worker Machines.

`reconcile` loads a scope, runs a flat list of phases that each may stop the pass, and writes the status once.
A pass makes at most three writes per Machine: the join token's Secret in the workload cluster, the bootstrap data
Secret, and the status. The token lives `--bootstrap-token-ttl`; it is extended while the Machine has not joined
and deleted once its Node exists. The pass skeleton and the shared phases live in `_common`.
"""

from __future__ import annotations

from typing import Any

import structlog

from k0smotron_core import cloudinit
from k0smotron_core.api import bootstrap, capi
from k0smotron_core.api._base import SecretMetadata
from k0smotron_core.runtime import Stop

from ._common import (
    CAPI,
    CONFIG_UID_LABEL,
    DATA_SECRET_AVAILABLE,
    RETRY_GENERATION_S,
    WAIT_FOR_CONTROL_PLANE_S,
    ConfigReconciler,
    DataSourceMissing,
    Phase,
    Scope,
    machine_to_config_of,
)

__all__ = [
    "API_VERSION",
    "CAPI",
    "CONFIG_UID_LABEL",
    "DATA_SECRET_AVAILABLE",
    "KIND",
    "RETRY_GENERATION_S",
    "WAIT_FOR_CONTROL_PLANE_S",
    "DataSourceMissing",
    "Stop",
    "WorkerConfigReconciler",
    "machine_to_config",
]

log = structlog.get_logger("k0smotron.bootstrap.workerconfig")

API_VERSION = bootstrap.K0sWorkerConfig.crd.api_version
KIND = "K0sWorkerConfig"

WorkerScope = Scope[bootstrap.K0sWorkerConfigSpec]


class WorkerConfigReconciler(ConfigReconciler[bootstrap.K0sWorkerConfigSpec]):
    api_version = API_VERSION
    kind = KIND
    spec_model = bootstrap.K0sWorkerConfigSpec
    log = log

    def _phases(self) -> list[Phase[bootstrap.K0sWorkerConfigSpec]]:
        return [
            self._reconcile_spec,
            self._reconcile_owner,
            self._reconcile_cluster,
            self._reconcile_readiness_gates,
            self._reconcile_existing_data,
            self._reconcile_data_secret,
        ]

    async def _reconcile_readiness_gates(self, scope: WorkerScope) -> None:
        if (scope.status.get("initialization") or {}).get("dataSecretCreated"):
            return
        assert scope.cluster is not None
        cluster = capi.Cluster.model_validate(scope.cluster)
        if not capi.is_infrastructure_provisioned(cluster):
            raise scope.waiting("WaitingForClusterInfrastructure", "Cluster infrastructure is not ready yet")
        endpoint = cluster.spec.control_plane_endpoint
        if not capi.is_control_plane_initialized(cluster) or endpoint is None or not endpoint.host:
            raise scope.waiting("WaitingForControlPlaneInitialization", "Control plane is not ready yet",
                                requeue_after_s=WAIT_FOR_CONTROL_PLANE_S)

    async def _render(self, scope: WorkerScope) -> str:
        assert scope.machine is not None and scope.cluster is not None
        machine_name = scope.machine["metadata"]["name"]
        version = scope.spec.version or (scope.machine.get("spec") or {}).get("version") or ""
        if version:
            scope.spec = scope.spec.model_copy(update={"version": cloudinit.normalize_k0s_version(version)})
        files = await self._resolve_files(scope, scope.spec.files)
        custom = await self._custom_user_data(scope, scope.spec.custom_user_data_ref)
        endpoint: dict[str, Any] = scope.cluster["spec"]["controlPlaneEndpoint"]
        join_token = await self._mint_join_token(
            scope, role="worker", server=f"https://{endpoint['host']}:{endpoint.get('port') or 6443}")
        return cloudinit.render_worker(scope.spec, machine_name=machine_name, join_token=join_token, files=files,
                                       custom_user_data=custom)

    def _secret_metadata(self, scope: WorkerScope) -> SecretMetadata | None:
        return scope.spec.secret_metadata


machine_to_config = machine_to_config_of(KIND)
