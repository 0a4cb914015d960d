"""K0smotronControlPlane: a hosted control plane for a CAPI Cluster, run as pods of a k0smotron.io Cluster.

`reconcile` loads a scope, runs a flat list of phases that each may stop the pass, and writes the status once. The
KMCP owns a k0smotron.io Cluster (same name as the CAPI Cluster) whose spec is the KMCP's spec, with the Cluster's
network settings merged into the k0s config; the KMC controller does the rest (certificates, Services, StatefulSets,
kubeconfig). This controller publishes the endpoint (Cluster and infrastructure cluster) and the control plane
contract status, which it reads from the control plane pods and from the child cluster's API.

Unlike upstream, the KMCP's own spec is never rewritten (certificate references, external address): what the
controller derives lives in the KMC and in status.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import structlog

from k0smotron_core import conditions
from k0smotron_core.api import controlplane, k0smotron
from k0smotron_core.runtime import (
    MERGE_PATCH,
    APIError,
    Client,
    ConnectionFailed,
    Request,
    Result,
    Stop,
    paused_condition,
)
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

log = structlog.get_logger("k0smotron.controlplane.kmcp")

API_VERSION = controlplane.K0smotronControlPlane.crd.api_version
KIND = "K0smotronControlPlane"
KMC_API_VERSION = k0smotron.Cluster.crd.api_version
CAPI = "cluster.x-k8s.io/v1beta1"
FINALIZER = "k0smotron.controlplane.cluster.x-k8s.io"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
SPEC_HASH_ANNOTATION = "k0smotron.io/cluster-spec-hash"
CLUSTER_ID_ANNOTATION = "k0sproject.io/cluster-id"
DEFAULT_VERSION = "v1.27.9-k0s.0"
LOOK_AGAIN_S = 10.0



@dataclass
class Scope:
    obj: dict[str, Any]
    status: dict[str, Any]
    cluster: dict[str, Any] | None = None
    kmc: dict[str, Any] | None = None
    requeue_after_s: float = 0.0

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def cluster_name(self) -> str:
        assert self.cluster is not None
        return str(self.cluster["metadata"]["name"])

    @property
    def generation(self) -> int | None:
        generation = self.obj["metadata"].get("generation")
        return int(generation) if generation is not None else None

    def condition(self, type_: str, status: conditions.Status, reason: str, message: str = "",
                  severity: conditions.Severity = "") -> None:
        conditions.set_v1beta1(self.status, type_, status, reason if status != "True" else "", message, severity)
        conditions.set_v1beta2(self.status, type_, status, reason, message, self.generation)

    def look_again(self, seconds: float = LOOK_AGAIN_S) -> None:
        self.requeue_after_s = min(self.requeue_after_s or seconds, seconds)


class K0smotronControlPlaneReconciler:
    def __init__(self, client: Client, workloads: WorkloadClusters) -> None:
        self._client = client
        self._workloads = workloads

    async def reconcile(self, request: Request) -> Result:
        obj = await self._client.get(API_VERSION, KIND, request.name, request.namespace)
        if obj is None:
            return Result()
        scope = Scope(obj=obj, status=copy.deepcopy(obj.get("status") or {}))
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        phases = [self._reconcile_delete] if deleting else [
            self._reconcile_finalizer,
            self._reconcile_cluster,
            self._reconcile_kmc,
            self._reconcile_endpoint,
            self._reconcile_replicas,
            self._reconcile_availability,
        ]
        try:
            for phase in phases:
                await phase(scope)
        except Stop as stop:
            scope.requeue_after_s = stop.requeue_after_s
        finally:
            if not deleting:
                await self._write_status(scope)
        return Result(requeue_after_s=scope.requeue_after_s)

    # --- phases ------------------------------------------------------------------------------------------------

    async def _reconcile_finalizer(self, scope: Scope) -> None:
        finalizers = list(scope.obj["metadata"].get("finalizers") or ())
        if FINALIZER not in finalizers:
            scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"metadata": {
                "finalizers": [*finalizers, FINALIZER], "resourceVersion": scope.obj["metadata"]["resourceVersion"]}},
                patch_type=MERGE_PATCH)

    async def _reconcile_cluster(self, scope: Scope) -> None:
        owner = _cluster_owner(scope.obj)
        if owner is None:
            scope.condition("Available", "False", "WaitingForClusterOwner",
                            "Waiting for the Cluster to own this K0smotronControlPlane", "Info")
            raise Stop()
        scope.cluster = await self._get_fresh(CAPI, "Cluster", owner["name"], scope.namespace)
        if scope.cluster is None:
            scope.condition("Available", "False", "WaitingForClusterOwner", f"Cluster {owner['name']} does not exist",
                            "Info")
            raise Stop()
        paused = paused_condition(scope.cluster, scope.obj)
        conditions.set_v1beta2(scope.status, "Paused", paused["status"], paused["reason"], paused["message"],
                               scope.generation)
        if paused["status"] == "True":
            raise Stop()

    async def _reconcile_kmc(self, scope: Scope) -> None:
        desired_spec = self._kmc_spec(scope)
        spec_hash = _spec_hash(desired_spec)
        name = scope.cluster_name
        kmc = await self._get_fresh(KMC_API_VERSION, "Cluster", name, scope.namespace)
        if kmc is None:
            kmc = await self._client.create({
                "apiVersion": KMC_API_VERSION, "kind": "Cluster",
                "metadata": {"name": name, "namespace": scope.namespace,
                             "labels": {CLUSTER_NAME_LABEL: name},
                             "annotations": {SPEC_HASH_ANNOTATION: spec_hash},
                             "ownerReferences": [_owner_reference(scope.obj, controller=False)]},
                "spec": desired_spec})
            log.info("k0smotron cluster created", K0smotronControlPlane=f"{scope.namespace}/{scope.name}")
        elif (kmc["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION) != spec_hash:
            # The KMC's controller may have filled in the external address it discovered: keep it.
            discovered = (kmc.get("spec") or {}).get("externalAddress")
            spec = {**desired_spec, **({"externalAddress": discovered} if discovered and not desired_spec.get(
                "externalAddress") else {})}
            kmc = await self._client.update({**kmc, "metadata": {
                **kmc["metadata"], "annotations": {**(kmc["metadata"].get("annotations") or {}),
                                                   SPEC_HASH_ANNOTATION: spec_hash}}, "spec": spec})
        scope.kmc = kmc

    async def _reconcile_endpoint(self, scope: Scope) -> None:
        assert scope.kmc is not None and scope.cluster is not None
        spec = k0smotron.ClusterSpec.model_validate(scope.kmc.get("spec") or {})
        host = spec.external_address
        scope.status["externalManagedControlPlane"] = True
        if not host:
            scope.condition("Available", "False", "WaitingForExternalAddress",
                            "Waiting for the control plane Service to get an external address", "Info")
            raise Stop(1.0)
        endpoint = {"host": host, "port": spec.service.api_port}
        infra_ref = (scope.cluster.get("spec") or {}).get("infrastructureRef")
        if infra_ref:
            await self._set_infrastructure_endpoint(scope, infra_ref, endpoint)
        if (scope.cluster.get("spec") or {}).get("controlPlaneEndpoint") != endpoint:
            scope.cluster = await self._client.patch(CAPI, "Cluster", scope.cluster_name, scope.namespace,
                                                     {"spec": {"controlPlaneEndpoint": endpoint}},
                                                     patch_type=MERGE_PATCH)

    async def _set_infrastructure_endpoint(self, scope: Scope, ref: dict[str, Any], endpoint: dict[str, Any]) -> None:
        infra = await self._client.get_live(ref["apiVersion"], ref["kind"], ref["name"],
                                            ref.get("namespace") or scope.namespace)
        if infra is None or (infra.get("spec") or {}).get("controlPlaneEndpoint") == endpoint:
            return
        try:
            await self._client.patch(ref["apiVersion"], ref["kind"], ref["name"],
                                     ref.get("namespace") or scope.namespace,
                                     {"spec": {"controlPlaneEndpoint": endpoint}}, patch_type=MERGE_PATCH)
        except APIError as error:
            # An infrastructure kind without spec.controlPlaneEndpoint: the Cluster's endpoint is enough.
            if error.status not in (400, 422):
                raise
            log.info("infrastructure cluster endpoint not set", kind=ref["kind"], reason=str(error))

    async def _reconcile_replicas(self, scope: Scope) -> None:
        assert scope.kmc is not None
        spec = k0smotron.ClusterSpec.model_validate(scope.kmc.get("spec") or {})
        desired_version = _k0s_version(spec.version or DEFAULT_VERSION)
        selector = f"{CLUSTER_NAME_LABEL}={scope.cluster_name},{CONTROL_PLANE_LABEL}=true"
        pods = [p for p in await self._client.list("v1", "Pod", scope.namespace,
                                                   labels={CLUSTER_NAME_LABEL: scope.cluster_name,
                                                           CONTROL_PLANE_LABEL: "true"})
                if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in pods if _pod_ready(p)]
        versions = [v for p in ready if (v := _pod_version(p))]
        up_to_date = [v for v in versions if v == desired_version]
        scope.status.update({
            "selector": selector,
            "replicas": len(pods),
            "readyReplicas": len(ready),
            "updatedReplicas": len(up_to_date),
            "unavailableReplicas": max(spec.replicas - len(ready), 0),
        })
        if versions:
            scope.status["version"] = min(versions, key=_version_key)
        if len(ready) < spec.replicas or len(up_to_date) < len(ready) or len(pods) != spec.replicas:
            scope.look_again()

    async def _reconcile_availability(self, scope: Scope) -> None:
        assert scope.cluster is not None
        try:
            transport = await self._workloads.transport(scope.namespace, scope.cluster_name)
            kube_system = await transport.request("GET", "/api/v1/namespaces/kube-system", timeout_s=10)
        except WorkloadClusterUnavailable as error:
            scope.condition("Available", "False", "ClusterClientCreationFailed", str(error), "Warning")
            scope.look_again()
            return
        except (APIError, ConnectionFailed) as error:
            scope.condition("Available", "False", "KubeSystemNamespaceNotAccessible",
                            f"the child cluster's API does not answer: {error}", "Warning")
            scope.look_again()
            return
        scope.condition("Available", "True", "Available")
        scope.status["initialized"] = True
        scope.status["initialization"] = {"controlPlaneInitialized": True}
        scope.status["ready"] = int(scope.status.get("readyReplicas") or 0) > 0
        cluster_id = f"kube-system:{kube_system['metadata']['uid']}"
        if (scope.cluster["metadata"].get("annotations") or {}).get(CLUSTER_ID_ANNOTATION) != cluster_id:
            await self._client.patch(CAPI, "Cluster", scope.cluster_name, scope.namespace,
                                     {"metadata": {"annotations": {CLUSTER_ID_ANNOTATION: cluster_id}}},
                                     patch_type=MERGE_PATCH)

    async def _reconcile_delete(self, scope: Scope) -> None:
        finalizers = list(scope.obj["metadata"].get("finalizers") or ())
        if FINALIZER not in finalizers:
            return
        owner = _cluster_owner(scope.obj)
        name = owner["name"] if owner else scope.name
        kmc = await self._client.get_live(KMC_API_VERSION, "Cluster", name, scope.namespace)
        if kmc is not None:
            if not kmc["metadata"].get("deletionTimestamp"):
                await self._client.delete(KMC_API_VERSION, "Cluster", name, scope.namespace,
                                          propagation_policy="Foreground")
            raise Stop(2.0)
        await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"metadata": {
            "finalizers": [f for f in finalizers if f != FINALIZER] or None,
            "resourceVersion": scope.obj["metadata"]["resourceVersion"]}}, patch_type=MERGE_PATCH)

    # --- helpers -----------------------------------------------------------------------------------------------

    def _kmc_spec(self, scope: Scope) -> dict[str, Any]:
        """The KMCP's spec, with the Cluster's network settings merged into the k0s config (existing values win)."""
        assert scope.cluster is not None
        spec = copy.deepcopy(scope.obj.get("spec") or {})
        network = (scope.cluster.get("spec") or {}).get("clusterNetwork") or {}
        derived: dict[str, Any] = {}
        pods = (network.get("pods") or {}).get("cidrBlocks")
        services = (network.get("services") or {}).get("cidrBlocks")
        if pods:
            derived["podCIDR"] = ",".join(pods)
        if services:
            derived["serviceCIDR"] = ",".join(services)
        if network.get("serviceDomain"):
            derived["clusterDomain"] = network["serviceDomain"]
        if derived:
            config = spec.setdefault("k0sConfig", {})
            config.setdefault("apiVersion", "k0s.k0sproject.io/v1beta1")
            config.setdefault("kind", "ClusterConfig")
            config_network = config.setdefault("spec", {}).setdefault("network", {})
            for key, value in derived.items():
                config_network.setdefault(key, value)
        return spec

    async def _write_status(self, scope: Scope) -> None:
        if scope.status == (scope.obj.get("status") or {}):
            return
        try:
            scope.obj = await self._client.update_status({**scope.obj, "status": scope.status})
        except APIError as error:
            if not (error.conflict or error.not_found):
                raise
            scope.requeue_after_s = min(scope.requeue_after_s or 1.0, 1.0)

    async def _get_fresh(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        found = await self._client.get(api_version, kind, name, namespace)
        return found if found is not None else await self._client.get_live(api_version, kind, name, namespace)


def _cluster_owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or ()
                 if ref.get("kind") == "Cluster" and str(ref.get("apiVersion", "")).startswith("cluster.x-k8s.io/")),
                None)


def _owner_reference(obj: dict[str, Any], *, controller: bool) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def _spec_hash(spec: dict[str, Any]) -> str:
    """FNV-32a of the spec's JSON without `externalAddress` (which the KMC controller may fill in), as upstream."""
    data = json.dumps({k: v for k, v in spec.items() if k != "externalAddress"}, sort_keys=True,
                      separators=(",", ":")).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _k0s_version(version: str) -> str:
    """The version in Kubernetes' form (`v1.27.2+k0s.0`) whatever the user wrote (`-k0s.0`, no suffix)."""
    version = version.replace("-k0s.", "+k0s.")
    return version if "+k0s." in version else f"{version}+k0s.0"


def _pod_version(pod: dict[str, Any]) -> str | None:
    """The k0s version a control plane pod runs, from its image tag (upstream execs `k0s version` instead)."""
    container = next((c for c in (pod.get("spec") or {}).get("containers") or () if c.get("name") == "controller"),
                     None)
    image = str((container or {}).get("image") or "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return _k0s_version(tag) if tag.startswith("v") else None


def _version_key(version: str) -> tuple[int, ...]:
    numbers = version.lstrip("v").replace("+k0s.", ".").split(".")
    return tuple(int(n) if n.isdigit() else 0 for n in numbers)
