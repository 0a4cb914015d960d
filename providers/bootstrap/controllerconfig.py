"""K0sControllerConfig: bootstrap data for control-plane Machines (spec §2.2, §2.4).

Modelled on `workerconfig`: the same pass skeleton, Cluster and pause handling, data Secret, single status write and
token lifetime (`_common`). What differs is the gate and the data:

- the gate is only `Cluster.spec.controlPlaneEndpoint` plus at least one active control-plane Machine (the first
  controller is what initializes the control plane, so `ControlPlaneInitialized` cannot be waited for);
- the first controller (the oldest active control-plane Machine, name as tie-breaker) gets the cluster's four CAs
  under /var/lib/k0s/pki and no token; every later one gets a controller join token minted in the workload cluster.

Not covered: probing `https://<endpoint>:<port>/v1beta1/ca` and falling back to the first running Machine's address
for the join URL (the endpoint host is always used), tunneling, the k0s < v1.31.6 leave service, Ignition.
"""

from __future__ import annotations

from typing import Any

import structlog

from k0smotron_core import cloudinit
from k0smotron_core.api import bootstrap, capi
from k0smotron_core.api._base import SecretMetadata
from k0smotron_core.runtime import APIError

from ._common import CAPI, ConfigReconciler, DataSourceMissing, Phase, Scope, machine_to_config_of

log = structlog.get_logger("k0smotron.bootstrap.controllerconfig")

API_VERSION = bootstrap.K0sControllerConfig.crd.api_version
KIND = "K0sControllerConfig"
WAIT_FOR_ENDPOINT_S = 30.0
DEFAULT_K0S_API_PORT = 9443
PKI_DIR = "/var/lib/k0s/pki"
KEY_PERMISSIONS = "0600"
"""Upstream writes the CA keys 0644; they are private keys, so only root reads them here."""
CERT_PERMISSIONS = "0644"
CA_FILES: tuple[tuple[str, str, str], ...] = (
    # (Secret suffix, certificate file, key file) under PKI_DIR
    ("ca", "ca.crt", "ca.key"),
    ("sa", "sa.pub", "sa.key"),
    ("proxy", "front-proxy-ca.crt", "front-proxy-ca.key"),
    ("etcd", "etcd/ca.crt", "etcd/ca.key"),
)
CONTROL_NODES = "/apis/autopilot.k0sproject.io/v1beta2/controlnodes"

ControllerScope = Scope[bootstrap.K0sControllerConfigSpec]


class ControllerConfigReconciler(ConfigReconciler[bootstrap.K0sControllerConfigSpec]):
    api_version = API_VERSION
    kind = KIND
    spec_model = bootstrap.K0sControllerConfigSpec
    log = log

    def _phases(self) -> list[Phase[bootstrap.K0sControllerConfigSpec]]:
        return [
            self._reconcile_spec,
            self._reconcile_owner,
            self._reconcile_cluster,
            self._reconcile_existing_data,
            self._reconcile_endpoint,
            self._reconcile_control_plane_machines,
            self._reconcile_data_secret,
        ]

    # --- gates ---------------------------------------------------------------------------------------

    async def _reconcile_endpoint(self, scope: ControllerScope) -> None:
        if not _endpoint_host(scope):
            raise scope.waiting("WaitingForControlPlaneInitialization", "Control plane endpoint is not set",
                                requeue_after_s=WAIT_FOR_ENDPOINT_S)

    async def _reconcile_control_plane_machines(self, scope: ControllerScope) -> None:
        if not await self._active_control_plane_machines(scope):
            raise scope.waiting("WaitingForControlPlaneInitialization",
                                f"No active control plane Machine of Cluster {scope.cluster_name} exists yet",
                                requeue_after_s=WAIT_FOR_ENDPOINT_S)

    async def _active_control_plane_machines(self, scope: ControllerScope, *, live: bool = False
                                             ) -> list[dict[str, Any]]:
        """Control-plane Machines of the Cluster that are not being deleted, oldest first (name breaks ties).

        `live` reads past the cache: deciding which Machine is the first controller on a stale list could let two
        Machines each initialize a control plane of their own."""
        selector = {capi.CLUSTER_NAME_LABEL: scope.cluster_name}
        if live:
            listed = await self._client.transport.request(
                "GET", f"/apis/{CAPI}/namespaces/{scope.namespace}/machines",
                query={"labelSelector": f"{capi.CLUSTER_NAME_LABEL}={scope.cluster_name},{capi.CONTROL_PLANE_LABEL}"})
            machines: list[dict[str, Any]] = list(listed.get("items") or ())
        else:
            machines = await self._client.list(CAPI, "Machine", scope.namespace, labels=selector)
        active = [m for m in machines if capi.CONTROL_PLANE_LABEL in (m["metadata"].get("labels") or {})
                  and not m["metadata"].get("deletionTimestamp")]
        return sorted(active, key=lambda m: (m["metadata"].get("creationTimestamp") or "", m["metadata"]["name"]))

    # --- data ----------------------------------------------------------------------------------------

    async def _render(self, scope: ControllerScope) -> str:
        assert scope.machine is not None and scope.cluster is not None
        machine_name = scope.machine["metadata"]["name"]
        version = scope.spec.version or (scope.machine.get("spec") or {}).get("version") or ""
        if version:
            version = cloudinit.normalize_k0s_version(version)
        files = await self._resolve_files(scope, scope.spec.files)
        custom = await self._custom_user_data(scope, scope.spec.custom_user_data_ref)
        machines = await self._active_control_plane_machines(scope, live=True)
        first = bool(machines) and machines[0]["metadata"]["name"] == machine_name
        join_token: str | None = None
        ca_files: list[cloudinit.BootstrapFile] = []
        if first:
            ca_files = await self._ca_files(scope)
        else:
            server = f"https://{_endpoint_host(scope)}:{_k0s_api_port(scope.spec)}"
            join_token = await self._mint_join_token(scope, role="controller", server=server)
        return cloudinit.render_controller(scope.spec, version=version, machine_name=machine_name,
                                           join_token=join_token, ca_files=ca_files, files=files,
                                           custom_user_data=custom)

    async def _ca_files(self, scope: ControllerScope) -> list[cloudinit.BootstrapFile]:
        """The first controller brings the cluster's CAs, so that the kubeconfig already issued from `<cluster>-ca`
        works against the control plane it creates."""
        kubeconfig = f"{scope.cluster_name}-kubeconfig"
        if await self._get_fresh("v1", "Secret", kubeconfig, scope.namespace) is None:
            raise DataSourceMissing(f"waiting for Secret {scope.namespace}/{kubeconfig}")
        files: list[cloudinit.BootstrapFile] = []
        for suffix, cert_file, key_file in CA_FILES:
            name = f"{scope.cluster_name}-{suffix}"
            cert = await self._secret_value(scope, name, "tls.crt")
            key = await self._secret_value(scope, name, "tls.key")
            files.append(cloudinit.BootstrapFile(path=f"{PKI_DIR}/{cert_file}", content=cert.decode(),
                                                 permissions=CERT_PERMISSIONS))
            files.append(cloudinit.BootstrapFile(path=f"{PKI_DIR}/{key_file}", content=key.decode(),
                                                 permissions=KEY_PERMISSIONS))
        return files

    def _secret_metadata(self, scope: ControllerScope) -> SecretMetadata | None:
        # Upstream ignores secretMetadata for controllers (a quirk); it is applied here as for workers.
        return scope.spec.secret_metadata

    # --- token lifetime ------------------------------------------------------------------------------

    async def _joined(self, scope: ControllerScope, transport: Any) -> bool:
        """A controller without a worker has no Node: its k0s ControlNode (named after the Machine through
        AUTOPILOT_HOSTNAME) existing means it has joined too."""
        if await super()._joined(scope, transport):
            return True
        assert scope.machine is not None
        try:
            await transport.request("GET", f"{CONTROL_NODES}/{scope.machine['metadata']['name']}")
        except APIError as error:
            if error.not_found:
                return False
            raise
        return True


def _endpoint_host(scope: ControllerScope) -> str:
    assert scope.cluster is not None
    endpoint = (scope.cluster.get("spec") or {}).get("controlPlaneEndpoint") or {}
    return str(endpoint.get("host") or "")


def _k0s_api_port(spec: bootstrap.K0sControllerConfigSpec) -> int:
    api = ((spec.k0s or {}).get("spec") or {}).get("api") or {}
    port = api.get("k0sApiPort") if isinstance(api, dict) else None
    return port if isinstance(port, int) and port > 0 else DEFAULT_K0S_API_PORT


machine_to_config = machine_to_config_of(KIND)
