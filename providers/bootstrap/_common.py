"""What K0sWorkerConfig and K0sControllerConfig share: the scope, the pass skeleton, the owner/Cluster/pause phases,
files, join tokens, the data Secret, the token's lifetime and the single status write.

A concrete reconciler names its kind and spec model, lists its phases and renders its data; everything else is here.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from k0smotron_core import cloudinit, conditions, tokens
from k0smotron_core.api import bootstrap, capi
from k0smotron_core.api._base import SecretMetadata
from k0smotron_core.runtime import APIError, Client, Request, Result, Stop, paused_condition
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

CAPI = "cluster.x-k8s.io/v1beta1"
DATA_SECRET_AVAILABLE = "DataSecretAvailable"
CONFIG_UID_LABEL = "k0smotron.io/bootstrap-config-uid"
CONFIG_LABEL = "k0smotron.io/bootstrap-config"
"""Names the config (hashed: label values are short) so its tokens can be found once the config itself is gone."""
"""Labels the join token's Secret in the workload cluster, so it can be found again to extend or delete it."""
WAIT_FOR_CONTROL_PLANE_S = 5.0
RETRY_GENERATION_S = 10.0
"""A missing Secret or ConfigMap is not watched (only CAPI Secrets are cached), so look again this often."""

SpecT = TypeVar("SpecT", bound=BaseModel)



class DataSourceMissing(Exception):
    """A Secret or ConfigMap the bootstrap data needs does not exist (yet)."""


@dataclass
class Scope(Generic[SpecT]):
    config: dict[str, Any]
    status: dict[str, Any]
    spec: SpecT
    machine: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None
    requeue_after_s: float = 0.0

    @property
    def namespace(self) -> str:
        return str(self.config["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.config["metadata"]["name"])

    @property
    def cluster_name(self) -> str:
        assert self.cluster is not None
        return str(self.cluster["metadata"]["name"])

    def waiting(self, reason: str, message: str, *, severity: conditions.Severity = "Info",
                requeue_after_s: float = 0.0) -> Stop:
        conditions.set_v1beta1(self.status, DATA_SECRET_AVAILABLE, "False", reason, message, severity)
        conditions.set_v1beta2(self.status, DATA_SECRET_AVAILABLE, "False", reason, message,
                               self.config["metadata"].get("generation"))
        return Stop(requeue_after_s)


Phase = Callable[[Scope[SpecT]], Awaitable[None]]


class ConfigReconciler(Generic[SpecT]):
    """The pass skeleton: load a scope, run `_phases()` until one stops, summarize and write the status once."""

    api_version: ClassVar[str]
    kind: ClassVar[str]
    spec_model: type[SpecT]
    log: ClassVar[Any]

    def __init__(self, client: Client, workloads: WorkloadClusters, *, token_ttl: dt.timedelta) -> None:
        self._client = client
        self._workloads = workloads
        self._token_ttl = token_ttl

    def _phases(self) -> list[Phase[SpecT]]:
        raise NotImplementedError

    async def _render(self, scope: Scope[SpecT]) -> str:
        raise NotImplementedError

    async def reconcile(self, request: Request) -> Result:
        config = await self._client.get(self.api_version, self.kind, request.name, request.namespace)
        if config is None:
            await self._delete_tokens_of_deleted_config(request)
            return Result()
        scope = Scope(config=config, status=copy.deepcopy(config.get("status") or {}),
                      spec=self.spec_model.model_validate({}))
        try:
            for phase in self._phases():
                await phase(scope)
        except Stop as stop:
            scope.requeue_after_s = stop.requeue_after_s
        finally:
            self._summarize(scope)
            await self._write_status(scope)
        return Result(requeue_after_s=scope.requeue_after_s)

    # --- shared phases -------------------------------------------------------------------------------

    async def _reconcile_spec(self, scope: Scope[SpecT]) -> None:
        try:
            scope.spec = self.spec_model.model_validate(scope.config.get("spec") or {})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise scope.waiting("InvalidSpec", f"spec.{where}: {first['msg']}", severity="Error") from None

    async def _delete_tokens_of_deleted_config(self, request: Request) -> None:
        """A deleted config's join tokens go at once, in whichever workload cluster of its namespace holds them."""
        label = f"{CONFIG_LABEL}={_config_label_value(request.namespace, request.name)}"
        for cluster in await self._client.list(CAPI, "Cluster", request.namespace):
            try:
                transport = await self._workloads.transport(request.namespace, cluster["metadata"]["name"])
                listed = await transport.request("GET", "/api/v1/namespaces/kube-system/secrets",
                                                 query={"labelSelector": label})
                for secret in listed.get("items") or ():
                    await transport.request(
                        "DELETE", f"/api/v1/namespaces/kube-system/secrets/{secret['metadata']['name']}")
            except (WorkloadClusterUnavailable, APIError) as error:
                # The token expires on its own within --bootstrap-token-ttl; this is only the early clean-up.
                self.log.info("tokens of a deleted config not removed", cluster=cluster["metadata"]["name"],
                         reason=str(error))

    async def _get_fresh(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """From the cache, else from the server: an object created just before this pass may not be cached yet
        (or not cached at all, like a user's Secret), and calling it missing would cost a wasted write and a retry."""
        found = await self._client.get(api_version, kind, name, namespace)
        return found if found is not None else await self._client.get_live(api_version, kind, name, namespace)

    async def _reconcile_owner(self, scope: Scope[SpecT]) -> None:
        owner = next((ref for ref in scope.config["metadata"].get("ownerReferences") or ()
                      if ref.get("kind") == "Machine" and ref.get("apiVersion", "").startswith("cluster.x-k8s.io/")),
                     None)
        if owner is None:
            raise scope.waiting("WaitingForMachineOwner", f"Waiting for a Machine to own this {self.kind}")
        scope.machine = await self._get_fresh(CAPI, "Machine", owner["name"], scope.namespace)
        if scope.machine is None:
            raise scope.waiting("WaitingForMachineOwner", f"Machine {owner['name']} does not exist")

    async def _reconcile_cluster(self, scope: Scope[SpecT]) -> None:
        assert scope.machine is not None
        name = (scope.machine["metadata"].get("labels") or {}).get(capi.CLUSTER_NAME_LABEL) or (
            scope.machine.get("spec") or {}).get("clusterName")
        scope.cluster = await self._get_fresh(CAPI, "Cluster", name, scope.namespace) if name else None
        if scope.cluster is None:
            raise scope.waiting("WaitingForCluster", f"Cluster {name} does not exist")
        paused = paused_condition(scope.cluster, scope.config)
        conditions.set_v1beta2(scope.status, "Paused", paused["status"], paused["reason"], paused["message"],
                               scope.config["metadata"].get("generation"))
        if paused["status"] == "True":
            raise Stop()

    async def _reconcile_existing_data(self, scope: Scope[SpecT]) -> None:
        """Once the data exists, only the token's lifetime is looked after."""
        if not (scope.status.get("initialization") or {}).get("dataSecretCreated"):
            return
        self._mark_available(scope, str(scope.status.get("dataSecretName") or scope.name))
        await self._look_after_token(scope)
        raise Stop(scope.requeue_after_s)

    async def _reconcile_data_secret(self, scope: Scope[SpecT]) -> None:
        existing = await self._get_fresh("v1", "Secret", scope.name, scope.namespace)
        if existing is not None and _owned_by(existing, scope.config):
            live = await self._client.get_live(scope.config["apiVersion"], scope.config["kind"], scope.name,
                                               scope.namespace)
            if live is not None and ((live.get("status") or {}).get("initialization") or {}).get("dataSecretCreated"):
                # The cache was behind our own status write: nothing is left to do, and writing again would cost
                # a request for no change.
                scope.config = live
                scope.status = copy.deepcopy(live["status"])
                raise Stop(self._token_check_interval())
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

    async def _secret_value(self, scope: Scope[SpecT], name: str, key: str) -> bytes:
        """`data[key]` of Secret `name` in the config's namespace; `DataSourceMissing` names the Secret and the key,
        never the content."""
        secret = await self._get_fresh("v1", "Secret", name, scope.namespace)
        value = base64.b64decode(((secret or {}).get("data") or {}).get(key, ""))
        if not value:
            raise DataSourceMissing(f"Secret {scope.namespace}/{name} with key {key} does not exist")
        return value

    async def _mint_join_token(self, scope: Scope[SpecT], *, role: tokens.Role, server: str) -> str:
        """Create a bootstrap token for `role` in the workload cluster (labelled with this config's uid) and return
        the k0s join token for `server`, trusting the cluster CA."""
        cluster_name = scope.cluster_name
        ca_pem = await self._secret_value(scope, f"{cluster_name}-ca", "tls.crt")
        token = tokens.new_token()
        secret = tokens.bootstrap_token_secret(token, role=role, ttl=self._token_ttl, now=dt.datetime.now(dt.UTC))
        secret["metadata"].setdefault("labels", {}).update(_token_labels(scope.config))
        transport = await self._workload_transport(scope, cluster_name)
        await transport.request("POST", "/api/v1/namespaces/kube-system/secrets", body=secret)
        return tokens.join_token(token, server=server, ca_pem=ca_pem, role=role)

    async def _workload_transport(self, scope: Scope[SpecT], cluster_name: str) -> Any:
        try:
            return await self._workloads.transport(scope.namespace, cluster_name)
        except WorkloadClusterUnavailable as error:
            raise scope.waiting("WaitingForControlPlaneInitialization", str(error),
                                requeue_after_s=WAIT_FOR_CONTROL_PLANE_S) from None

    async def _resolve_files(self, scope: Scope[SpecT], files: list[bootstrap.File] | None
                             ) -> list[cloudinit.BootstrapFile]:
        return [await self._resolve_file(scope, f) for f in files or ()]

    async def _resolve_file(self, scope: Scope[SpecT], file: bootstrap.File) -> cloudinit.BootstrapFile:
        content = file.content or ""
        if file.content_from is not None:
            content = await self._resolve_content(scope, file.content_from, f"file {file.path}")
        return cloudinit.BootstrapFile(path=file.path or "", content=content, permissions=file.permissions or "0644")

    async def _resolve_content(self, scope: Scope[SpecT], source: bootstrap.ContentSource, what: str) -> str:
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

    async def _custom_user_data(self, scope: Scope[SpecT], ref: bootstrap.ContentSource | None) -> str | None:
        return None if ref is None else await self._resolve_content(scope, ref, "customUserDataRef")

    def _secret_metadata(self, scope: Scope[SpecT]) -> SecretMetadata | None:
        """Labels and annotations the spec asks to put on the data Secret."""
        return None

    def _data_secret(self, scope: Scope[SpecT], user_data: str) -> dict[str, Any]:
        metadata = self._secret_metadata(scope)
        labels = {capi.CLUSTER_NAME_LABEL: scope.cluster_name,
                  "app.kubernetes.io/component": "bootstrap", **((metadata.labels if metadata else None) or {})}
        secret_meta: dict[str, Any] = {
            "name": scope.name, "namespace": scope.namespace, "labels": labels,
            "ownerReferences": [{"apiVersion": self.api_version, "kind": self.kind, "name": scope.name,
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

    async def _joined(self, scope: Scope[SpecT], transport: Any) -> bool:
        """Whether the Machine has joined, so its token is no longer needed: its Node exists."""
        assert scope.machine is not None
        return bool((scope.machine.get("status") or {}).get("nodeRef"))

    async def _look_after_token(self, scope: Scope[SpecT]) -> None:
        assert scope.machine is not None and scope.cluster is not None
        try:
            transport = await self._workloads.transport(scope.namespace, scope.cluster_name)
            listed = await transport.request("GET", "/api/v1/namespaces/kube-system/secrets", query={
                "labelSelector": f"{CONFIG_UID_LABEL}={scope.config['metadata']['uid']}"})
            items = listed.get("items") or ()
            joined = await self._joined(scope, transport)
        except (WorkloadClusterUnavailable, APIError) as error:
            self.log.info("token not looked after this time", reason=str(error))
            scope.requeue_after_s = self._token_check_interval()
            return
        for secret in items:
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

    def _mark_available(self, scope: Scope[SpecT], secret_name: str) -> None:
        scope.status["dataSecretName"] = secret_name
        scope.status["ready"] = True
        scope.status.setdefault("initialization", {})["dataSecretCreated"] = True
        conditions.set_v1beta1(scope.status, DATA_SECRET_AVAILABLE, "True", "Available", "Bootstrap secret created")
        conditions.set_v1beta2(scope.status, DATA_SECRET_AVAILABLE, "True", "Available", "Bootstrap secret created",
                               scope.config["metadata"].get("generation"))

    @staticmethod
    def _summarize(scope: Scope[SpecT]) -> None:
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

    async def _write_status(self, scope: Scope[SpecT]) -> None:
        if scope.status == (scope.config.get("status") or {}):
            return
        try:
            await self._client.patch(self.api_version, self.kind, scope.name, scope.namespace,
                                     {"status": scope.status}, subresource="status")
        except APIError as error:
            if not error.not_found:
                raise


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


def machine_to_config_of(kind: str) -> Callable[[dict[str, Any]], list[Request]]:
    """Map a Machine to its bootstrap config of `kind`, if that is what its configRef names."""

    def machine_to_config(machine: dict[str, Any]) -> list[Request]:
        ref = ((machine.get("spec") or {}).get("bootstrap") or {}).get("configRef") or {}
        if ref.get("kind") != kind or not ref.get("name"):
            return []
        return [Request(machine["metadata"].get("namespace") or "", ref["name"])]

    return machine_to_config


def _config_label_value(namespace: str, name: str) -> str:
    return hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:40]


def _token_labels(config: dict[str, Any]) -> dict[str, str]:
    meta = config["metadata"]
    return {CONFIG_UID_LABEL: meta["uid"], CONFIG_LABEL: _config_label_value(meta["namespace"], meta["name"])}
