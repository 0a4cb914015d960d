"""K0sWorkerConfig: bootstrap data for worker Machines.

`reconcile` loads a scope, runs a flat list of phases that each may stop the pass, and writes the status once.
A pass makes at most three writes per Machine: the join token's Secret in the workload cluster, the bootstrap data
Secret, and the status. The token lives `--bootstrap-token-ttl`; it is extended while the Machine has not joined
and deleted once its Node exists.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from k0smotron_core import cloudinit, conditions, tokens
from k0smotron_core.api import bootstrap, capi
from k0smotron_core.runtime import APIError, Client, Request, Result, paused_condition
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

log = structlog.get_logger("k0smotron.bootstrap.workerconfig")

API_VERSION = bootstrap.K0sWorkerConfig.crd.api_version
KIND = "K0sWorkerConfig"
CAPI = "cluster.x-k8s.io/v1beta1"
DATA_SECRET_AVAILABLE = "DataSecretAvailable"
CONFIG_UID_LABEL = "k0smotron.io/bootstrap-config-uid"
"""Labels the join token's Secret in the workload cluster, so it can be found again to extend or delete it."""
WAIT_FOR_CONTROL_PLANE_S = 5.0
RETRY_GENERATION_S = 10.0
"""A missing Secret or ConfigMap is not watched (only CAPI Secrets are cached), so look again this often."""


class Stop(Exception):
    """A phase ended the pass: the conditions say why; `requeue_after_s` says when to look again."""

    def __init__(self, requeue_after_s: float = 0.0) -> None:
        super().__init__()
        self.requeue_after_s = requeue_after_s


@dataclass
class Scope:
    config: dict[str, Any]
    status: dict[str, Any]
    spec: bootstrap.K0sWorkerConfigSpec = field(default_factory=bootstrap.K0sWorkerConfigSpec)
    machine: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None
    requeue_after_s: float = 0.0

    @property
    def namespace(self) -> str:
        return str(self.config["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.config["metadata"]["name"])

    def waiting(self, reason: str, message: str, *, severity: conditions.Severity = "Info",
                requeue_after_s: float = 0.0) -> Stop:
        conditions.set_v1beta1(self.status, DATA_SECRET_AVAILABLE, "False", reason, message, severity)
        conditions.set_v1beta2(self.status, DATA_SECRET_AVAILABLE, "False", reason, message,
                               self.config["metadata"].get("generation"))
        return Stop(requeue_after_s)


class WorkerConfigReconciler:
    def __init__(self, client: Client, workloads: WorkloadClusters, *, token_ttl: dt.timedelta) -> None:
        self._client = client
        self._workloads = workloads
        self._token_ttl = token_ttl

    async def reconcile(self, request: Request) -> Result:
        config = await self._client.get(API_VERSION, KIND, request.name, request.namespace)
        if config is None:
            return Result()
        scope = Scope(config=config, status=copy.deepcopy(config.get("status") or {}))
        phases: list[Callable[[Scope], Awaitable[None]]] = [
            self._reconcile_spec,
            self._reconcile_owner,
            self._reconcile_cluster,
            self._reconcile_readiness_gates,
            self._reconcile_existing_data,
            self._reconcile_data_secret,
        ]
        try:
            for phase in phases:
                await phase(scope)
        except Stop as stop:
            scope.requeue_after_s = stop.requeue_after_s
        finally:
            self._summarize(scope)
            await self._write_status(scope)
        return Result(requeue_after_s=scope.requeue_after_s)

    # --- phases ------------------------------------------------------------------------------------------

    async def _reconcile_spec(self, scope: Scope) -> None:
        try:
            scope.spec = bootstrap.K0sWorkerConfigSpec.model_validate(scope.config.get("spec") or {})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise scope.waiting("InvalidSpec", f"spec.{where}: {first['msg']}", severity="Error") from None

    async def _reconcile_owner(self, scope: Scope) -> None:
        owner = next((ref for ref in scope.config["metadata"].get("ownerReferences") or ()
                      if ref.get("kind") == "Machine" and ref.get("apiVersion", "").startswith("cluster.x-k8s.io/")),
                     None)
        if owner is None:
            raise scope.waiting("WaitingForMachineOwner", "Waiting for a Machine to own this K0sWorkerConfig")
        scope.machine = await self._client.get(CAPI, "Machine", owner["name"], scope.namespace)
        if scope.machine is None:
            raise scope.waiting("WaitingForMachineOwner", f"Machine {owner['name']} does not exist")

    async def _reconcile_cluster(self, scope: Scope) -> None:
        assert scope.machine is not None
        name = (scope.machine["metadata"].get("labels") or {}).get(capi.CLUSTER_NAME_LABEL) or (
            scope.machine.get("spec") or {}).get("clusterName")
        scope.cluster = await self._client.get(CAPI, "Cluster", name, scope.namespace) if name else None
        if scope.cluster is None:
            raise scope.waiting("WaitingForCluster", f"Cluster {name} does not exist")
        paused = paused_condition(scope.cluster, scope.config)
        conditions.set_v1beta2(scope.status, "Paused", paused["status"], paused["reason"], paused["message"],
                               scope.config["metadata"].get("generation"))
        if paused["status"] == "True":
            raise Stop()

    async def _reconcile_readiness_gates(self, scope: Scope) -> None:
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

    async def _reconcile_existing_data(self, scope: Scope) -> None:
        """Once the data exists, only the token's lifetime is looked after."""
        if not (scope.status.get("initialization") or {}).get("dataSecretCreated"):
            return
        self._mark_available(scope, str(scope.status.get("dataSecretName") or scope.name))
        await self._look_after_token(scope)
        raise Stop(scope.requeue_after_s)

    async def _reconcile_data_secret(self, scope: Scope) -> None:
        existing = await self._client.get_live("v1", "Secret", scope.name, scope.namespace)
        if existing is not None and _owned_by(existing, scope.config):
            # A previous pass wrote the data but stopped before the status: finish it without a new token.
            self._mark_available(scope, scope.name)
            return
        assert scope.machine is not None and scope.cluster is not None
        try:
            user_data = await self._render(scope)
        except (cloudinit.BootstrapDataError, DataSourceMissing) as error:
            raise scope.waiting("DataSecretGenerationFailed", str(error), severity="Warning",
                                requeue_after_s=RETRY_GENERATION_S) from None
        await self._client.create(self._data_secret(scope, user_data))
        self._mark_available(scope, scope.name)
        scope.requeue_after_s = self._token_check_interval()

    # --- data ----------------------------------------------------------------------------------------

    async def _render(self, scope: Scope) -> str:
        assert scope.machine is not None and scope.cluster is not None
        machine_name = scope.machine["metadata"]["name"]
        version = scope.spec.version or (scope.machine.get("spec") or {}).get("version") or ""
        if version:
            scope.spec = scope.spec.model_copy(update={"version": cloudinit.normalize_k0s_version(version)})
        files = [await self._resolve_file(scope, f) for f in scope.spec.files or ()]
        custom = None
        if scope.spec.custom_user_data_ref is not None:
            custom = await self._resolve_content(scope, scope.spec.custom_user_data_ref, "customUserDataRef")
        join_token = await self._mint_join_token(scope)
        return cloudinit.render_worker(scope.spec, machine_name=machine_name, join_token=join_token, files=files,
                                       custom_user_data=custom)

    async def _mint_join_token(self, scope: Scope) -> str:
        assert scope.cluster is not None
        cluster_name = scope.cluster["metadata"]["name"]
        ca = await self._client.get_live("v1", "Secret", f"{cluster_name}-ca", scope.namespace)
        ca_pem = base64.b64decode(((ca or {}).get("data") or {}).get("tls.crt", ""))
        if not ca_pem:
            raise DataSourceMissing(f"Secret {scope.namespace}/{cluster_name}-ca with key tls.crt does not exist")
        endpoint = scope.cluster["spec"]["controlPlaneEndpoint"]
        token = tokens.new_token()
        secret = tokens.bootstrap_token_secret(token, role="worker", ttl=self._token_ttl,
                                               now=dt.datetime.now(dt.UTC))
        secret["metadata"].setdefault("labels", {})[CONFIG_UID_LABEL] = scope.config["metadata"]["uid"]
        transport = await self._workload_transport(scope, cluster_name)
        await transport.request("POST", "/api/v1/namespaces/kube-system/secrets", body=secret)
        return tokens.join_token(token, server=f"https://{endpoint['host']}:{endpoint.get('port') or 6443}",
                                 ca_pem=ca_pem, role="worker")

    async def _workload_transport(self, scope: Scope, cluster_name: str) -> Any:
        try:
            return await self._workloads.transport(scope.namespace, cluster_name)
        except WorkloadClusterUnavailable as error:
            raise scope.waiting("WaitingForControlPlaneInitialization", str(error),
                                requeue_after_s=WAIT_FOR_CONTROL_PLANE_S) from None

    async def _resolve_file(self, scope: Scope, file: bootstrap.File) -> cloudinit.BootstrapFile:
        content = file.content or ""
        if file.content_from is not None:
            content = await self._resolve_content(scope, file.content_from, f"file {file.path}")
        return cloudinit.BootstrapFile(path=file.path or "", content=content, permissions=file.permissions or "0644")

    async def _resolve_content(self, scope: Scope, source: bootstrap.ContentSource, what: str) -> str:
        for kind, ref in (("Secret", source.secret_ref), ("ConfigMap", source.config_map_ref)):
            if ref is None:
                continue
            obj = await self._client.get_live("v1", kind, ref.name, scope.namespace)
            value = ((obj or {}).get("data") or {}).get(ref.key)
            if value is None:
                raise DataSourceMissing(f"{what}: {kind} {scope.namespace}/{ref.name} with key {ref.key} does not "
                                        "exist")
            return base64.b64decode(value).decode() if kind == "Secret" else str(value)
        raise DataSourceMissing(f"{what}: neither secretRef nor configMapRef is set")

    def _data_secret(self, scope: Scope, user_data: str) -> dict[str, Any]:
        assert scope.cluster is not None
        metadata = scope.spec.secret_metadata
        labels = {capi.CLUSTER_NAME_LABEL: scope.cluster["metadata"]["name"],
                  "app.kubernetes.io/component": "bootstrap", **((metadata.labels if metadata else None) or {})}
        secret_meta: dict[str, Any] = {
            "name": scope.name, "namespace": scope.namespace, "labels": labels,
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": scope.name,
                                 "uid": scope.config["metadata"]["uid"], "controller": True,
                                 "blockOwnerDeletion": True}],
        }
        if metadata is not None and metadata.annotations:
            secret_meta["annotations"] = dict(metadata.annotations)
        return {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret", "metadata": secret_meta,
                "data": {"value": base64.b64encode(user_data.encode()).decode(),
                         "format": base64.b64encode(b"cloud-config").decode()}}

    # --- token lifetime ------------------------------------------------------------------------------

    def _token_check_interval(self) -> float:
        return self._token_ttl.total_seconds() / 3

    async def _look_after_token(self, scope: Scope) -> None:
        assert scope.machine is not None and scope.cluster is not None
        joined = bool((scope.machine.get("status") or {}).get("nodeRef"))
        try:
            transport = await self._workloads.transport(scope.namespace, scope.cluster["metadata"]["name"])
            listed = await transport.request("GET", "/api/v1/namespaces/kube-system/secrets", query={
                "labelSelector": f"{CONFIG_UID_LABEL}={scope.config['metadata']['uid']}"})
        except (WorkloadClusterUnavailable, APIError) as error:
            log.info("token not looked after this time", reason=str(error))
            scope.requeue_after_s = self._token_check_interval()
            return
        for secret in listed.get("items") or ():
            path = f"/api/v1/namespaces/kube-system/secrets/{secret['metadata']['name']}"
            if joined:
                await transport.request("DELETE", path)
                continue
            expires = _expiration(secret)
            now = dt.datetime.now(dt.UTC)
            if expires is None or expires - now < self._token_ttl / 2:
                renewed = (now + self._token_ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
                await transport.request("PATCH", path, body={"stringData": {"expiration": renewed}},
                                        content_type="application/merge-patch+json")
        if not joined:
            scope.requeue_after_s = self._token_check_interval()

    # --- status --------------------------------------------------------------------------------------

    def _mark_available(self, scope: Scope, secret_name: str) -> None:
        scope.status["dataSecretName"] = secret_name
        scope.status["ready"] = True
        scope.status.setdefault("initialization", {})["dataSecretCreated"] = True
        conditions.set_v1beta1(scope.status, DATA_SECRET_AVAILABLE, "True", "Available", "Bootstrap secret created")
        conditions.set_v1beta2(scope.status, DATA_SECRET_AVAILABLE, "True", "Available", "Bootstrap secret created",
                               scope.config["metadata"].get("generation"))

    @staticmethod
    def _summarize(scope: Scope) -> None:
        """`Ready` summarizes DataSecretAvailable, as CAPI's summary does for a single condition."""
        data = conditions.get(scope.status, DATA_SECRET_AVAILABLE)
        if data is None:
            return
        ready = data["status"]
        reason = {"True": "Ready", "False": "NotReady"}.get(ready, "ReadyUnknown")
        conditions.set_v1beta1(scope.status, "Ready", ready, data.get("reason", reason) if ready != "True" else "",
                               data.get("message", "") if ready != "True" else "", data.get("severity", "Info"))
        conditions.set_v1beta2(scope.status, "Ready", ready, reason, data.get("message", ""),
                               scope.config["metadata"].get("generation"))
        scope.status["observedGeneration"] = scope.config["metadata"].get("generation")

    async def _write_status(self, scope: Scope) -> None:
        if scope.status == (scope.config.get("status") or {}):
            return
        try:
            await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"status": scope.status},
                                     subresource="status")
        except APIError as error:
            if not error.not_found:
                raise


class DataSourceMissing(Exception):
    """A Secret or ConfigMap the bootstrap data needs does not exist (yet)."""


def _owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or ())


def _expiration(secret: dict[str, Any]) -> dt.datetime | None:
    encoded = (secret.get("data") or {}).get("expiration")
    if not encoded:
        return None
    try:
        return dt.datetime.strptime(base64.b64decode(encoded).decode(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def machine_to_config(machine: dict[str, Any]) -> list[Request]:
    ref = ((machine.get("spec") or {}).get("bootstrap") or {}).get("configRef") or {}
    if ref.get("kind") != KIND or not ref.get("name"):
        return []
    return [Request(machine["metadata"].get("namespace") or "", ref["name"])]

