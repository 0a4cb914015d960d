"""JoinTokenRequest: a k0s join token for a hosted cluster, written to a Secret named like the request.

Upstream execs `k0s token create` in a control plane pod. Here the token is minted like the bootstrap provider's: a
bootstrap-token Secret in the child cluster's kube-system (through `<cluster>-kubeconfig`), labelled with the
request's UID so a pass interrupted after creating it picks the same token up again, and a join token (kubeconfig
with the child's server and CA) in the management cluster. Deleting the request deletes the bootstrap-token Secret,
which invalidates the token.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any

import structlog
from pydantic import ValidationError
from ruamel.yaml import YAML

from k0smotron_core import conditions, tokens
from k0smotron_core.api import k0smotron
from k0smotron_core.runtime import MERGE_PATCH, APIError, Client, ConnectionFailed, Request, Result
from k0smotron_core.runtime._flags import parse_duration
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

log = structlog.get_logger("k0smotron.controlplane.jointokenrequest")

API_VERSION = k0smotron.JoinTokenRequest.crd.api_version
KIND = "JoinTokenRequest"
FINALIZER = "jointokenrequests.k0smotron.io/finalizer"
REQUEST_UID_LABEL = "k0smotron.io/token-request-uid"
CONDITION = "JoinTokenSecretCreated"
RETRY_S = 10.0
_SECRETS = "/api/v1/namespaces/kube-system/secrets"


class JoinTokenRequestReconciler:
    def __init__(self, client: Client, workloads: WorkloadClusters) -> None:
        self._client = client
        self._workloads = workloads

    async def reconcile(self, request: Request) -> Result:
        obj = await self._client.get(API_VERSION, KIND, request.name, request.namespace)
        if obj is None:
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            await self._delete(obj)
            return Result()
        status = copy.deepcopy(obj.get("status") or {})
        requeue = 0.0
        try:
            obj = await self._ensure_finalizer(obj)
            await self._reconcile_token(obj, status)
            _set(status, obj, "True", "Created", "")
        except _Waiting as waiting:
            _set(status, obj, "False", waiting.reason, str(waiting))
            requeue = RETRY_S
        finally:
            if status != (obj.get("status") or {}):
                try:
                    await self._client.update_status({**obj, "status": status})
                except APIError as error:
                    if not (error.conflict or error.not_found):
                        raise
                    requeue = 1.0
        return Result(requeue_after_s=requeue)

    async def _ensure_finalizer(self, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = list(obj["metadata"].get("finalizers") or ())
        if FINALIZER in finalizers:
            return obj
        return await self._client.patch(API_VERSION, KIND, obj["metadata"]["name"], obj["metadata"]["namespace"], {
            "metadata": {"finalizers": [*finalizers, FINALIZER],
                         "resourceVersion": obj["metadata"]["resourceVersion"]}}, patch_type=MERGE_PATCH)

    async def _reconcile_token(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        try:
            spec = k0smotron.JoinTokenRequestSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            first = error.errors()[0]
            raise _Waiting("InvalidSpec", f"spec.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        ref = spec.cluster_ref
        cluster = await self._client.get_live(k0smotron.Cluster.crd.api_version, "Cluster", ref.name, ref.namespace)
        if cluster is None:
            raise _Waiting("ClusterNotFound", f"k0smotron.io Cluster {ref.namespace}/{ref.name} does not exist")
        status["clusterUID"] = cluster["metadata"]["uid"]
        secret = await self._client.get_live("v1", "Secret", name, namespace)
        if secret is not None and status.get("tokenID"):
            return
        try:
            ttl = parse_duration(spec.expiry)
        except ValueError:
            raise _Waiting("InvalidSpec", f"spec.expiry {spec.expiry!r} is not a duration such as 1.5h or 2h45m") \
                from None
        try:
            transport = await self._workloads.transport(ref.namespace, ref.name)
            server, ca_pem = await self._child_endpoint(ref.namespace, ref.name)
            token = await self._bootstrap_token(transport, obj, spec.role, ttl)
        except WorkloadClusterUnavailable as error:
            raise _Waiting("WaitingForControlPlane", str(error)) from None
        except (APIError, ConnectionFailed) as error:
            raise _Waiting("ChildClusterUnavailable", f"the child cluster's API does not answer: {error}") from None
        join_token = tokens.join_token(token, server=server, ca_pem=ca_pem, role=spec.role)
        labels = {**(obj["metadata"].get("labels") or {}), "k0smotron.io/cluster": ref.name,
                  "k0smotron.io/role": spec.role, "k0smotron.io/token-request": name,
                  "app.kubernetes.io/component": "jointoken"}
        await self._client.apply({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "annotations": dict(obj["metadata"].get("annotations") or {}),
                         "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": name,
                                              "uid": obj["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "type": "Opaque",
            "data": {"token": base64.b64encode(join_token.encode()).decode()},
        })
        status["tokenID"] = token.token_id
        log.info("join token created", JoinTokenRequest=f"{namespace}/{name}", role=spec.role)

    async def _child_endpoint(self, namespace: str, cluster: str) -> tuple[str, bytes]:
        secret = await self._client.get_live("v1", "Secret", f"{cluster}-kubeconfig", namespace)
        encoded = ((secret or {}).get("data") or {}).get("value")
        if not encoded:
            raise WorkloadClusterUnavailable(f"Secret {namespace}/{cluster}-kubeconfig does not exist yet")
        config = YAML(typ="safe", pure=True).load(base64.b64decode(encoded))
        context_name = config.get("current-context")
        context = next((c["context"] for c in config.get("contexts") or () if c.get("name") == context_name), None)
        cluster_entry = next((c["cluster"] for c in config.get("clusters") or ()
                              if context and c.get("name") == context.get("cluster")), None)
        if not cluster_entry or not cluster_entry.get("server") or not cluster_entry.get("certificate-authority-data"):
            raise WorkloadClusterUnavailable(f"Secret {namespace}/{cluster}-kubeconfig has no server and CA")
        return str(cluster_entry["server"]), base64.b64decode(cluster_entry["certificate-authority-data"])

    async def _bootstrap_token(self, transport: Any, obj: dict[str, Any], role: tokens.Role,
                               ttl: float) -> tokens.BootstrapToken:
        """The request's bootstrap token in the child: the one a previous pass made, else a new one."""
        uid = obj["metadata"]["uid"]
        listed = await transport.request("GET", _SECRETS, query={"labelSelector": f"{REQUEST_UID_LABEL}={uid}"})
        for existing in listed.get("items") or ():
            data = existing.get("data") or {}
            if data.get("token-id") and data.get("token-secret"):
                return tokens.BootstrapToken(base64.b64decode(data["token-id"]).decode(),
                                             base64.b64decode(data["token-secret"]).decode())
        token = tokens.new_token()
        secret = tokens.bootstrap_token_secret(token, role=role, now=dt.datetime.now(dt.UTC),
                                               ttl=dt.timedelta(seconds=ttl or 1))
        if not ttl:
            # 0s: the token does not expire (until the request is deleted).
            del secret["stringData"]["expiration"]
        secret["metadata"]["labels"] = {REQUEST_UID_LABEL: uid}
        await transport.request("POST", _SECRETS, body=secret)
        return token

    async def _delete(self, obj: dict[str, Any]) -> None:
        finalizers = list(obj["metadata"].get("finalizers") or ())
        if FINALIZER not in finalizers:
            return
        ref = ((obj.get("spec") or {}).get("clusterRef") or {})
        try:
            if ref.get("name"):
                transport = await self._workloads.transport(ref.get("namespace") or obj["metadata"]["namespace"],
                                                            ref["name"])
                listed = await transport.request("GET", _SECRETS, query={
                    "labelSelector": f"{REQUEST_UID_LABEL}={obj['metadata']['uid']}"})
                for secret in listed.get("items") or ():
                    await transport.request("DELETE", f"{_SECRETS}/{secret['metadata']['name']}")
        except (WorkloadClusterUnavailable, APIError, ConnectionFailed) as error:
            # The cluster is gone (or going): its tokens went with it.
            log.info("join token not invalidated in the child cluster", reason=str(error))
        await self._client.patch(API_VERSION, KIND, obj["metadata"]["name"], obj["metadata"]["namespace"], {
            "metadata": {"finalizers": [f for f in finalizers if f != FINALIZER] or None,
                         "resourceVersion": obj["metadata"]["resourceVersion"]}}, patch_type=MERGE_PATCH)


class _Waiting(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _set(status: dict[str, Any], obj: dict[str, Any], value: conditions.Status, reason: str, message: str) -> None:
    conditions.set_v1beta1(status, CONDITION, value, reason if value != "True" else "", message,
                           "Warning" if value == "False" else "")
    conditions.set_v1beta2(status, CONDITION, value, reason, message, obj["metadata"].get("generation"))
    status["reconciliationStatus"] = "Reconciliation successful" if value == "True" else f"{message}"
