"""The k0smotron.io Cluster ("KMC") reconciler: a hosted k0s control plane as StatefulSets in the management cluster.

One pass: load a scope, run the phases in order until one stops (spec §4.2: Services → k0s config → entrypoint →
certificates → etcd → k0s StatefulSet → kubeconfig → functional check), then set the conditions and write the status
once. Generated objects are applied with server-side apply as `k0smotron-operator`, only when the cached object does
not already hold what would be applied.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from cryptography import x509
from pydantic import ValidationError
from ruamel.yaml import YAML

from k0smotron_core import conditions, pki
from k0smotron_core.api import k0smotron
from k0smotron_core.runtime import APIError, Client, ConnectionFailed, Request, Result, Stop
from k0smotron_core.runtime._workload import WorkloadClusters, WorkloadClusterUnavailable

from . import _manifests as manifests
from . import _names as names
from ._manifests import InvalidSpec

KEY_ALGORITHM: pki.KeyAlgorithm = "ecdsa-p256"
"""Keys this controller generates (CAs, service-account key, etcd and admin certificates). ECDSA P-256, which
Kubernetes, etcd and k0s accept everywhere (CAPI's kubeadm control plane offers it too): an RSA 2048 key costs tens
of milliseconds of CPU, eight of them per hosted cluster."""

log = structlog.get_logger("k0smotron.controlplane.kmc")

REQUEUE_NOT_READY_S = 10.0
REQUEUE_WAIT_ADDRESS_S = 5.0
KUBECONFIG_RENEW_BEFORE = dt.timedelta(days=182)
FUNCTIONAL_TIMEOUT_S = 5.0

SCALING = "ControlPlaneScaling"
UP_TO_DATE = "ControlPlaneUpToDate"
EXPOSED = "ControlPlaneExposed"
KUBECONFIG = "KubeconfigSecretAvailable"
CERTIFICATES = "CertificatesAvailable"
FUNCTIONAL = "ControlPlaneFunctional"
DELETING = "Deleting"
AVAILABLE = "Available"



@dataclass
class Scope:
    kmc: dict[str, Any]
    status: dict[str, Any]
    spec: k0smotron.ClusterSpec = field(default_factory=k0smotron.ClusterSpec)
    service: dict[str, Any] | None = None
    certificate_refs: list[tuple[str, str]] = field(default_factory=list)
    statefulset: dict[str, Any] | None = None
    requeue_after_s: float = 0.0
    failure: tuple[str, str] | None = None
    """(reason, message) of a spec that cannot be reconciled; `Available` carries it."""
    step: str = ""

    @property
    def name(self) -> str:
        return str(self.kmc["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.kmc["metadata"]["namespace"])

    @property
    def raw_spec(self) -> dict[str, Any]:
        return dict(self.kmc.get("spec") or {})

    @property
    def generation(self) -> int | None:
        value = self.kmc["metadata"].get("generation")
        return int(value) if value is not None else None

    def requeue(self, seconds: float) -> None:
        self.requeue_after_s = min(self.requeue_after_s, seconds) if self.requeue_after_s else seconds

    def condition(self, type_: str, status: conditions.Status, reason: str, message: str = "",
                  severity: conditions.Severity = "Info") -> None:
        conditions.set_v1beta1(self.status, type_, status, reason, message, severity)
        conditions.set_v1beta2(self.status, type_, status, reason, message, self.generation)


Phase = Callable[[Scope], Awaitable[None]]


class ClusterReconciler:
    def __init__(self, client: Client, workloads: WorkloadClusters) -> None:
        self._client = client
        self._workloads = workloads

    def _phases(self) -> list[tuple[str, Phase]]:
        return [
            ("finalizer", self._reconcile_finalizer),
            ("spec", self._reconcile_spec),
            ("services", self._reconcile_services),
            ("k0s config", self._reconcile_config),
            ("entrypoint", self._reconcile_entrypoint),
            ("certificates", self._reconcile_certificates),
            ("etcd", self._reconcile_etcd),
            ("statefulset", self._reconcile_statefulset),
            ("kubeconfig", self._reconcile_kubeconfig),
            ("functional check", self._reconcile_functional),
        ]

    async def reconcile(self, request: Request) -> Result:
        kmc = await self._client.get(names.API_VERSION, names.KIND, request.name, request.namespace)
        if kmc is None:
            await self._workloads.forget(request.namespace, request.name)
            return Result()
        if kmc["metadata"].get("deletionTimestamp"):
            await self._reconcile_delete(kmc)
            return Result()
        scope = Scope(kmc=kmc, status=copy.deepcopy(kmc.get("status") or {}))
        try:
            for step, phase in self._phases():
                scope.step = step
                await phase(scope)
            scope.status["reconciliationStatus"] = "Reconciliation successful"
        except Stop as stop:
            if stop.requeue_after_s:
                scope.requeue(stop.requeue_after_s)
        except Exception:
            scope.status["reconciliationStatus"] = f"Failed reconciling {scope.step}"
            raise
        finally:
            if scope.statefulset is None:
                scope.statefulset = await self._client.get("apps/v1", "StatefulSet", names.statefulset(scope.name),
                                                           scope.namespace)
            self._summarize(scope)
            await self._write_status(scope)
        return Result(requeue_after_s=scope.requeue_after_s)

    # --- deletion and finalizer ---------------------------------------------------------------------------------

    async def _reconcile_delete(self, kmc: dict[str, Any]) -> None:
        """Children go by ownerReference garbage collection; only the finalizer is ours to remove."""
        finalizers = list(kmc["metadata"].get("finalizers") or ())
        if names.FINALIZER not in finalizers:
            return
        meta = kmc["metadata"]
        patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
                 {"op": "replace", "path": "/metadata/finalizers",
                  "value": [f for f in finalizers if f != names.FINALIZER]}]
        try:
            await self._client.patch(names.API_VERSION, names.KIND, meta["name"], meta["namespace"], patch,
                                     patch_type="application/json-patch+json")
        except APIError as error:
            if not error.not_found:
                raise
        await self._workloads.forget(meta["namespace"], meta["name"])
        log.info("finalizer removed", Cluster=f"{meta['namespace']}/{meta['name']}")

    async def _reconcile_finalizer(self, scope: Scope) -> None:
        finalizers = list(scope.kmc["metadata"].get("finalizers") or ())
        if names.FINALIZER in finalizers:
            return
        scope.kmc = await self._client.patch(
            names.API_VERSION, names.KIND, scope.name, scope.namespace,
            {"metadata": {"finalizers": [*finalizers, names.FINALIZER],
                          "resourceVersion": scope.kmc["metadata"]["resourceVersion"]}})

    # --- phases -------------------------------------------------------------------------------------------------

    async def _reconcile_spec(self, scope: Scope) -> None:
        try:
            scope.spec = k0smotron.ClusterSpec.model_validate(scope.raw_spec)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise self._invalid(scope, f"spec.{where}: {first['msg']}") from None

    def _invalid(self, scope: Scope, message: str) -> Stop:
        scope.failure = ("InvalidSpec", message)
        scope.status["reconciliationStatus"] = f"Failed reconciling {scope.step}: {message}"
        return Stop(REQUEUE_NOT_READY_S * 6)

    async def _reconcile_services(self, scope: Scope) -> None:
        desired = manifests.service(scope.kmc, scope.spec)
        existing = await self._client.get("v1", "Service", desired["metadata"]["name"], scope.namespace)
        scope.service = await self._apply(desired, existing)
        for other in names.all_services(scope.name):
            if other != desired["metadata"]["name"]:
                await self._delete_owned(scope, "v1", "Service", other)
        if scope.spec.external_address:
            return
        address = await self._discover_address(scope)
        if address is None:
            if scope.spec.service.type == "LoadBalancer":
                raise Stop(REQUEUE_WAIT_ADDRESS_S)
            return
        scope.kmc = await self._client.patch(names.API_VERSION, names.KIND, scope.name, scope.namespace,
                                             {"spec": {"externalAddress": address}})
        scope.spec = k0smotron.ClusterSpec.model_validate(scope.raw_spec)
        log.info("external address discovered", Cluster=f"{scope.namespace}/{scope.name}", address=address)

    async def _discover_address(self, scope: Scope) -> str | None:
        service_type = scope.spec.service.type
        if service_type == "LoadBalancer":
            ingress = (((scope.service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
            if not ingress:
                return None
            first = ingress[0]
            return str(first.get("ip") or first.get("hostname") or "") or None
        if service_type == "NodePort":
            nodes = await self._client.list("v1", "Node")
            if not nodes:
                return None
            addresses = (nodes[0].get("status") or {}).get("addresses") or ()
            for wanted in (("ExternalDNS", "ExternalIP"), ("InternalIP",)):
                for address in addresses:
                    if address.get("type") in wanted and address.get("address"):
                        return str(address["address"])
        return None

    async def _reconcile_config(self, scope: Scope) -> None:
        service_ips = [str(ip) for ip in ((scope.service or {}).get("spec") or {}).get("clusterIPs") or ()
                       if ip and ip != "None"]
        try:
            config = manifests.k0s_config(scope.kmc, scope.spec, service_ips=service_ips)
        except InvalidSpec as error:
            raise self._invalid(scope, str(error)) from None
        desired = manifests.config_map(scope.kmc, scope.spec, pki.dump_yaml(config))
        await self._apply(desired, await self._client.get("v1", "ConfigMap", desired["metadata"]["name"],
                                                          scope.namespace))

    async def _reconcile_entrypoint(self, scope: Scope) -> None:
        desired = manifests.entrypoint_config_map(scope.kmc, scope.spec)
        await self._apply(desired, await self._client.get("v1", "ConfigMap", desired["metadata"]["name"],
                                                          scope.namespace))

    async def _reconcile_certificates(self, scope: Scope) -> None:
        if scope.spec.certificate_refs:
            scope.certificate_refs = [(ref.type, ref.name or f"{scope.name}-{ref.type}")
                                      for ref in scope.spec.certificate_refs]
            missing = [name for _, name in scope.certificate_refs if await self._get_secret(scope, name) is None]
            if missing:
                scope.condition(CERTIFICATES, "False", "NotFound", f"Secret {missing[0]} does not exist",
                                severity="Warning")
                raise Stop(REQUEUE_NOT_READY_S)
        else:
            for purpose in pki.CLUSTER_CA_PURPOSES:
                name = f"{scope.name}-{purpose}"
                if await self._get_secret(scope, name) is None:
                    pair = (pki.generate_service_account_key_pair(algorithm=KEY_ALGORITHM) if purpose == "sa"
                            else pki.generate_ca({"ca": "kubernetes", "etcd": "etcd-ca",
                                                  "proxy": "front-proxy-ca"}[purpose], algorithm=KEY_ALGORITHM))
                    secret = pki.cluster_certificates_secret(scope.name, scope.namespace, purpose, pair,
                                                             owner=names.owner_reference(scope.kmc))
                    cluster_label = (scope.kmc["metadata"].get("labels") or {}).get(names.CLUSTER_NAME_LABEL)
                    if cluster_label:
                        secret["metadata"]["labels"] = {names.CLUSTER_NAME_LABEL: cluster_label}
                    else:
                        secret["metadata"].pop("labels", None)
                    await self._create_secret(secret)
                scope.certificate_refs.append((purpose, name))
        scope.condition(CERTIFICATES, "True", "Created")

    async def _reconcile_etcd(self, scope: Scope) -> None:
        if not manifests.uses_etcd(scope.spec):
            return
        n, ns = scope.name, scope.namespace
        refs = dict(scope.certificate_refs)
        etcd_ca_name = refs.get("etcd", f"{n}-etcd")
        etcd_ca_secret = await self._get_secret(scope, etcd_ca_name)
        if etcd_ca_secret is None:
            etcd_ca = pki.generate_ca("etcd-ca", algorithm=KEY_ALGORITHM)
            secret = pki.cluster_certificates_secret(n, ns, "etcd", etcd_ca, owner=names.owner_reference(scope.kmc))
            etcd_ca_secret = await self._create_secret(secret)
            scope.certificate_refs.append(("etcd", etcd_ca_name))
        etcd_ca = pki.key_pair_from_secret(etcd_ca_secret)
        labels = names.etcd_labels(scope.kmc, scope.spec)
        cluster_label = (scope.kmc["metadata"].get("labels") or {}).get(names.CLUSTER_NAME_LABEL)
        if cluster_label:
            labels[names.CLUSTER_NAME_LABEL] = cluster_label
        hosts = manifests.etcd_hosts(n, ns)
        wanted: list[tuple[str, str, Callable[[], pki.KeyPair]]] = [
            ("apiserver-etcd-client", refs.get("apiserver-etcd-client", f"{n}-apiserver-etcd-client"),
             lambda: pki.issue_certificate(etcd_ca, "apiserver-etcd-client", usage="client",
                                           algorithm=KEY_ALGORITHM)),
            ("etcd-server", refs.get("etcd-server", f"{n}-etcd-server"),
             lambda: pki.issue_certificate(etcd_ca, "etcd-server", usage="both", sans=hosts,
                                           algorithm=KEY_ALGORITHM)),
            ("etcd-peer", refs.get("etcd-peer", f"{n}-etcd-peer"),
             lambda: pki.issue_certificate(etcd_ca, "etcd-peer", usage="both", sans=hosts,
                                           algorithm=KEY_ALGORITHM)),
        ]
        for kind, name, issue in wanted:
            if await self._get_secret(scope, name) is None:
                await self._create_secret(manifests.tls_secret(scope.kmc, name, issue(), labels))
            if kind == "apiserver-etcd-client" and kind not in refs:
                scope.certificate_refs.append((kind, name))

        service = manifests.etcd_service(scope.kmc, scope.spec)
        await self._apply(service, await self._client.get("v1", "Service", service["metadata"]["name"], ns))

        sts_name = names.etcd(n)
        existing = await self._client.get("apps/v1", "StatefulSet", sts_name, ns)
        final = manifests.etcd_replicas(scope.spec.replicas)
        replicas = final
        growing = False
        if existing is not None:
            current = int((existing.get("spec") or {}).get("replicas") or 0)
            status = existing.get("status") or {}
            floor = max(current, int(status.get("replicas") or 0))
            if final > floor:
                growing = True
                # One member at a time: the next one joins only once every current member is ready.
                replicas = floor + 1 if int(status.get("readyReplicas") or 0) >= floor else floor
            else:
                replicas = floor  # etcd is never scaled down
        desired = manifests.etcd_statefulset(scope.kmc, scope.spec, replicas=replicas, etcd_ca_secret=etcd_ca_name)
        await self._apply_statefulset(desired, existing)
        if growing:
            scope.requeue(REQUEUE_NOT_READY_S)

    async def _reconcile_statefulset(self, scope: Scope) -> None:
        try:
            desired = manifests.statefulset(scope.kmc, scope.spec, certificate_refs=scope.certificate_refs,
                                            raw_spec=scope.raw_spec)
        except InvalidSpec as error:
            raise self._invalid(scope, str(error)) from None
        existing = await self._client.get("apps/v1", "StatefulSet", desired["metadata"]["name"], scope.namespace)
        scope.statefulset = await self._apply_statefulset(desired, existing)

    async def _reconcile_kubeconfig(self, scope: Scope) -> None:
        ready = int(((scope.statefulset or {}).get("status") or {}).get("readyReplicas") or 0)
        if ready <= 0:
            scope.condition(KUBECONFIG, "False", "NoReadyReplicas", "Waiting for a ready control plane replica")
            scope.condition(FUNCTIONAL, "False", "NoReadyReplicas", "No control plane replica is ready")
            raise Stop(REQUEUE_NOT_READY_S)
        ca_name = dict(scope.certificate_refs).get("ca", f"{scope.name}-ca")
        ca_secret = await self._get_secret(scope, ca_name)
        try:
            if ca_secret is None:
                raise ValueError(f"Secret {ca_name} does not exist")
            ca = pki.key_pair_from_secret(ca_secret)
        except ValueError as error:
            scope.condition(KUBECONFIG, "False", "InternalError", f"cluster CA: {error}", severity="Warning")
            raise Stop(REQUEUE_NOT_READY_S) from None
        server = self._server(scope)
        existing = await self._get_secret(scope, names.kubeconfig_secret(scope.name))
        if existing is None or not _kubeconfig_current(existing, server, ca.cert_pem):
            client = pki.issue_certificate(ca, pki.ADMIN_COMMON_NAME, usage="client",
                                           organizations=[pki.ADMIN_ORGANIZATION], algorithm=KEY_ALGORITHM)
            config = pki.kubeconfig_yaml(f"{scope.name}-k0s", server, ca.cert_pem, user=f"{scope.name}-admin",
                                         client=client)
            await self._apply(manifests.kubeconfig_secret(scope.kmc, scope.spec, config), None)
            log.info("kubeconfig written", Cluster=f"{scope.namespace}/{scope.name}", server=server)
        scope.condition(KUBECONFIG, "True", "Created")

    def _server(self, scope: Scope) -> str:
        port = scope.spec.service.api_port
        host = scope.spec.external_address or (
            f"{names.service(scope.name, scope.spec.service.type)}.{scope.namespace}.svc")
        return f"https://{manifests.host_port(host, port)}"

    async def _reconcile_functional(self, scope: Scope) -> None:
        try:
            transport = await self._workloads.transport(scope.namespace, scope.name)
            await transport.request("GET", "/api/v1/namespaces/kube-system", timeout_s=FUNCTIONAL_TIMEOUT_S)
        except (TimeoutError, WorkloadClusterUnavailable, APIError, ConnectionFailed, OSError) as error:
            if isinstance(error, APIError):
                reason, message = "KubeSystemNamespaceNotAccessible", f"kube-system: {error.reason}"
            else:
                reason = "ClusterClientCreationFailed"
                message = f"the workload cluster cannot be reached ({type(error).__name__})"
            scope.condition(FUNCTIONAL, "False", reason, message)
            raise Stop(REQUEUE_NOT_READY_S) from None
        scope.condition(FUNCTIONAL, "True", "KubeSystemNamespaceFound")

    # --- writes -------------------------------------------------------------------------------------------------

    async def _apply(self, desired: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """Server-side apply as `k0smotron-operator` (forced), unless `existing` already holds everything."""
        if existing is not None and _covers(existing, desired):
            return existing
        return await self._client.apply(desired, field_manager=names.FIELD_MANAGER)

    async def _apply_statefulset(self, desired: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """Applied when the hash of everything but the replica count, or the replica count, differs."""
        if (existing is not None and manifests.statefulset_hash(existing) == manifests.statefulset_hash(desired)
                and (existing.get("spec") or {}).get("replicas") == desired["spec"]["replicas"]):
            return existing
        return await self._apply(desired, None)

    async def _get_secret(self, scope: Scope, name: str) -> dict[str, Any] | None:
        """Secrets may be cached only in part (the binary caches CAPI Secrets): fall back to the server."""
        found = await self._client.get("v1", "Secret", name, scope.namespace)
        return found if found is not None else await self._client.get_live("v1", "Secret", name, scope.namespace)

    async def _create_secret(self, secret: dict[str, Any]) -> dict[str, Any]:
        """Create a generated Secret; one that appeared meanwhile (another pass, the user) is kept, never replaced."""
        try:
            return await self._client.create(secret)
        except APIError as error:
            if error.status != 409:
                raise
        found = await self._client.get_live("v1", "Secret", secret["metadata"]["name"],
                                            secret["metadata"]["namespace"])
        if found is None:
            raise RuntimeError(f"Secret {secret['metadata']['name']} conflicted but does not exist")
        return found

    async def _delete_owned(self, scope: Scope, api_version: str, kind: str, name: str) -> None:
        """Delete an object of a previous configuration (a Service of another type) if this KMC controls it."""
        existing = await self._client.get(api_version, kind, name, scope.namespace)
        if existing is None:
            return
        uid = scope.kmc["metadata"]["uid"]
        if any(ref.get("uid") == uid and ref.get("controller") for ref in existing["metadata"].get("ownerReferences")
               or ()):
            await self._client.delete(api_version, kind, name, scope.namespace)

    # --- status -------------------------------------------------------------------------------------------------

    def _summarize(self, scope: Scope) -> None:
        status = scope.status
        sts = scope.statefulset
        if sts is not None:
            sts_status = sts.get("status") or {}
            desired = int((sts.get("spec") or {}).get("replicas") or 0)
            replicas = int(sts_status.get("replicas") or 0)
            ready = int(sts_status.get("readyReplicas") or 0)
            updated = int(sts_status.get("updatedReplicas") or 0)
            status["replicas"] = replicas
            status["readyReplicas"] = ready
            status["updatedReplicas"] = updated
            status["selector"] = ",".join(f"{k}={v}" for k, v in
                                          sorted(((sts.get("spec") or {}).get("selector") or {})
                                                 .get("matchLabels", {}).items()))
            status["ready"] = ready == scope.spec.replicas
            if replicas < desired:
                scope.condition(SCALING, "True", "ScalingUp", f"Scaling up from {replicas} to {desired} replicas")
            elif replicas > desired:
                scope.condition(SCALING, "True", "ScalingDown",
                                f"Scaling down from {replicas} to {desired} replicas")
            else:
                scope.condition(SCALING, "False", "ControlPlaneWithDesiredReplicas")
            if updated >= replicas and replicas == desired:
                scope.condition(UP_TO_DATE, "True", "AllReplicasUpToDate")
            else:
                scope.condition(UP_TO_DATE, "False", "NotAllReplicasUpToDate",
                                f"{updated} of {replicas} replicas are up to date")
            if ready < scope.spec.replicas or replicas != desired:
                scope.requeue(REQUEUE_NOT_READY_S)
        else:
            status.setdefault("ready", False)
            scope.condition(SCALING, "Unknown", "NotFound", "The control plane StatefulSet does not exist yet")
            scope.condition(UP_TO_DATE, "Unknown", "NotFound", "The control plane StatefulSet does not exist yet")
        if scope.service is None:
            scope.condition(EXPOSED, "Unknown", "NotFound", "The control plane Service does not exist yet")
        elif scope.spec.external_address:
            scope.condition(EXPOSED, "True", "ClusterWithExternalAddress")
        elif scope.spec.service.type == "LoadBalancer":
            scope.condition(EXPOSED, "False", "WaitingForExternalAddress",
                            "Waiting for the LoadBalancer Service to get an address")
        else:
            scope.condition(EXPOSED, "False", "ClusterWithoutExternalAddress",
                            "No external address is set or could be discovered")
        for type_ in (CERTIFICATES, KUBECONFIG, FUNCTIONAL):
            if conditions.get(status, type_) is None:
                scope.condition(type_, "Unknown", "NotFound" if type_ == CERTIFICATES else "Waiting")
        scope.condition(DELETING, "False", "NotDeleting")
        self._summarize_available(scope)

    def _summarize_available(self, scope: Scope) -> None:
        if scope.failure is not None:
            scope.condition(AVAILABLE, "False", scope.failure[0], scope.failure[1], severity="Error")
            return
        not_true = [t for t in (FUNCTIONAL, KUBECONFIG, EXPOSED) if not conditions.is_true(scope.status, t)]
        if not not_true:
            scope.condition(AVAILABLE, "True", "Available")
            return
        first = conditions.get(scope.status, not_true[0]) or {}
        message = "; ".join(f"{t}: {(conditions.get(scope.status, t) or {}).get('reason', 'Unknown')}"
                            for t in not_true)
        scope.condition(AVAILABLE, "Unknown" if first.get("status") == "Unknown" else "False", "NotAvailable",
                        message)

    async def _write_status(self, scope: Scope) -> None:
        if _without_times(scope.status) == _without_times(scope.kmc.get("status") or {}):
            return
        try:
            await self._client.patch(names.API_VERSION, names.KIND, scope.name, scope.namespace,
                                     {"status": scope.status}, subresource="status")
        except APIError as error:
            if not error.not_found:
                raise


# --- helpers -------------------------------------------------------------------------------------------------------


def _covers(existing: Any, desired: Any) -> bool:
    """Whether `existing` holds every field of `desired` with the same value (lists: same length, item by item)."""
    if isinstance(desired, dict):
        return isinstance(existing, dict) and all(k in existing and _covers(existing[k], v)
                                                  for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(existing, list) and len(existing) == len(desired)
                and all(_covers(e, d) for e, d in zip(existing, desired, strict=True)))
    return bool(existing == desired)


def _without_times(status: dict[str, Any]) -> dict[str, Any]:
    """The status with conditions' lastTransitionTime dropped: a pass that changes nothing writes nothing."""
    result = copy.deepcopy(status)
    for holder in (result, result.get("v1beta2") or {}):
        for condition in holder.get("conditions") or ():
            condition.pop("lastTransitionTime", None)
    return result


def _kubeconfig_current(secret: dict[str, Any], server: str, ca_pem: bytes) -> bool:
    """An existing kubeconfig is kept while its server and CA are still right and its client certificate has more
    than six months left."""
    try:
        config = YAML(typ="safe", pure=True).load(base64.b64decode((secret.get("data") or {}).get("value", "")))
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        if cluster.get("server") != server or base64.b64decode(cluster["certificate-authority-data"]) != ca_pem:
            return False
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    except Exception:  # anything unreadable is replaced; the content is never logged
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > KUBECONFIG_RENEW_BEFORE
