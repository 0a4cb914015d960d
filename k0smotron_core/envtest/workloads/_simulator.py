"""The controllers that make workloads in an envtest run, kwok-style: Nodes, the StatefulSet, Deployment and
ReplicaSet controllers, a scheduler plus kubelet that bind pods and report them Running, and a load balancer
controller that gives LoadBalancer Services an address.

Like envtest's own controllers they run in-process on the env's storage: a store listener queues the keys of
changed objects, one task reconciles them (level-triggered: every reconcile reads the current state, so a restarted
simulator picks up where the last one stopped). All writes happen synchronously in that task, right after the read
they are based on, so they never conflict with each other. Pod runtimes run as tasks of their own and hand their
result back through the queue.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import heapq
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import StatusError
from .._registry import GroupResource, ResourceType
from .._selectors import label_selector_from_match
from .._storage import DeleteOptions, RequestContext, now_rfc3339
from .._store import WatchEvent
from ._runtimes import (
    K0S_IMAGES,
    ChildKey,
    GenericRuntime,
    K0sControllerRuntime,
    PodRuntime,
    controller_owner,
    image_matches,
)

if TYPE_CHECKING:
    from .._server import EnvTest

log = logging.getLogger("k0smotron_core.envtest.workloads")

Obj = dict[str, Any]

PODS: GroupResource = ("", "pods")
NODES: GroupResource = ("", "nodes")
SERVICES: GroupResource = ("", "services")
SECRETS: GroupResource = ("", "secrets")
PVCS: GroupResource = ("", "persistentvolumeclaims")
STATEFULSETS: GroupResource = ("apps", "statefulsets")
DEPLOYMENTS: GroupResource = ("apps", "deployments")
REPLICASETS: GroupResource = ("apps", "replicasets")

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
KUBELET_VERSION = "v1.27.2"

_RETRY_S = 1.0
"""How long a pod whose runtime is not ready waits before asking again, if nothing in its namespace changes."""
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString's: no vowels, no look-alikes

_CONTROLLER_MANAGER = RequestContext(user="system:kube-controller-manager", field_manager="kube-controller-manager")
_SCHEDULER = RequestContext(user="system:kube-scheduler", field_manager="kube-scheduler")
_CLOUD = RequestContext(user="system:serviceaccount:kube-system:service-controller",
                        field_manager="cloud-controller-manager")


def default_lb_addresses() -> Iterator[str]:
    """127.1.0.1, 127.1.0.2, ...: every 127/8 address is bindable on Linux's loopback without configuration."""
    for address in ipaddress.ip_network("127.1.0.0/16").hosts():
        yield str(address)


def template_hash(template: Any, collisions: int = 0) -> str:
    """A short, stable hash of a pod template in the alphabet the real controllers use for names and labels."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":")) + f"/{collisions}"
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        value, digit = divmod(value, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)


def is_ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _owner_ref(owner: Obj) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


@dataclass(eq=False)
class _PodHandle:
    """The simulated kubelet's record of a pod it runs."""

    uid: str
    namespace: str
    name: str
    runtime: PodRuntime
    pod: Obj
    ready: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class WorkloadSimulator:
    """Runs the workloads of `env`, kwok-style (docs/envtest.md, "Workload simulation").

        async with EnvTest() as env, WorkloadSimulator(env) as sim:
            ...   # StatefulSets get pods, pods become Ready, k0s pods serve a child API in sim.child_clusters
    """

    def __init__(
        self,
        env: EnvTest,
        *,
        node_address: str = "127.0.0.1",
        nodes: int = 1,
        lb_addresses: Iterable[str] | None = None,
        pod_ready_delay_s: float = 0.0,
    ) -> None:
        self.env = env
        self.node_address = node_address
        self.node_names = [f"sim-node-{i}" for i in range(nodes)]
        self.pod_ready_delay_s = pod_ready_delay_s
        self.child_clusters: dict[ChildKey, EnvTest] = {}
        """(namespace, StatefulSet name) -> the child API server run by that StatefulSet's k0s pods."""
        self._store = env.store
        self._storage = env.storage
        self._lb_source = iter(lb_addresses) if lb_addresses is not None else default_lb_addresses()
        self._lb_free: list[tuple[int, str]] = []  # released addresses, lowest first (heap)
        self._lb_by_uid: dict[str, str] = {}
        self._lb_taken: set[str] = set()
        self._runtimes: list[tuple[str, PodRuntime]] = []
        self._generic: PodRuntime = GenericRuntime()
        k0s = K0sControllerRuntime(self)
        for image in K0S_IMAGES:
            self.register_runtime(image, k0s)
        self._pods: dict[str, _PodHandle] = {}
        self._waiting: dict[str, set[_PodHandle]] = {}  # namespace -> pods whose runtime is not ready yet
        self._pod_ips: dict[str, str] = {}
        self._ip_free: list[int] = []
        self._ip_next = int(POD_CIDR.network_address) + 2  # .1 is the gateway of the pod network
        self._node_load: dict[str, int] = dict.fromkeys(self.node_names, 0)
        self._pending: dict[tuple[str, str, str], None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stops: set[asyncio.Task[None]] = set()
        self._listening = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def register_runtime(self, image_prefix: str, runtime: PodRuntime) -> None:
        """Run pods with a container image matching `image_prefix` (`image_matches`) with `runtime`; the longest
        matching prefix wins, and a later registration of the same prefix replaces the earlier one."""
        self._runtimes = [(p, r) for p, r in self._runtimes if p != image_prefix] + [(image_prefix, runtime)]
        self._runtimes.sort(key=lambda entry: -len(entry[0]))

    async def start(self) -> WorkloadSimulator:
        if not self._listening:
            self._store.add_listener(self._on_event)
        self._listening = True
        self._adopt_existing_state()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="envtest-workloads")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._listening:
            self._store.remove_listener(self._on_event)
        self._listening = False
        handles = list(self._pods.values())
        self._pods.clear()
        self._waiting.clear()
        for handle in handles:
            self._stop_pod(handle)
        if self._stops:
            await asyncio.gather(*self._stops, return_exceptions=True)

    async def __aenter__(self) -> WorkloadSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until `condition()` holds (for tests and demos); TimeoutError after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not condition():
            if loop.time() >= deadline:
                raise TimeoutError(f"condition not met within {timeout_s} s")
            # Polled: a child API server starting or stopping changes nothing the store could announce.
            await asyncio.sleep(0.01)

    # --- state a previous simulator left -----------------------------------------------------------------

    def _adopt_existing_state(self) -> None:
        """Take over the addresses already handed out, then reconcile everything once."""
        for svc in self._store.objects(SERVICES):
            for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ():
                if ingress.get("ip") and (svc.get("spec") or {}).get("type") == "LoadBalancer":
                    self._lb_by_uid[svc["metadata"]["uid"]] = ingress["ip"]
                    self._lb_taken.add(ingress["ip"])
        for pod in self._store.objects(PODS):
            ip = (pod.get("status") or {}).get("podIP")
            if ip and ipaddress.ip_address(ip) in POD_CIDR:
                self._pod_ips[pod["metadata"]["uid"]] = ip
                self._ip_next = max(self._ip_next, int(ipaddress.ip_address(ip)) + 1)
            node = (pod.get("spec") or {}).get("nodeName")
            if node in self._node_load:
                self._node_load[node] += 1
        for name in self.node_names:
            self._enqueue("node", "", name)
        for what, gr in (("svc", SERVICES), ("sts", STATEFULSETS), ("deploy", DEPLOYMENTS), ("rs", REPLICASETS),
                         ("pod", PODS)):
            for obj in self._store.objects(gr):
                self._enqueue(what, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

    # --- event intake ------------------------------------------------------------------------------------

    def _enqueue(self, what: str, namespace: str, name: str) -> None:
        self._pending[(what, namespace, name)] = None
        self._wake.set()

    def _on_event(self, event: WatchEvent) -> None:
        gr = event.group_resource
        obj = event.object
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        if gr == PODS:
            if event.type == "DELETED":
                self._pod_gone(obj)
            else:
                self._enqueue("pod", namespace, meta["name"])
            for kind, what in (("StatefulSet", "sts"), ("ReplicaSet", "rs")):
                owner = controller_owner(obj, kind)
                if owner is not None:
                    self._enqueue(what, namespace, owner["name"])
        elif gr == STATEFULSETS:
            if event.type != "DELETED":
                self._enqueue("sts", namespace, meta["name"])
        elif gr == REPLICASETS:
            if event.type != "DELETED":
                self._enqueue("rs", namespace, meta["name"])
            owner = controller_owner(obj, "Deployment")
            if owner is not None:
                self._enqueue("deploy", namespace, owner["name"])
        elif gr == DEPLOYMENTS:
            if event.type != "DELETED":
                self._enqueue("deploy", namespace, meta["name"])
        elif gr == SERVICES:
            if event.type == "DELETED":
                self._release_lb(meta["uid"])
            else:
                self._enqueue("svc", namespace, meta["name"])
            self._wake_waiting(namespace)
        elif gr == SECRETS:
            self._wake_waiting(namespace)
        elif gr == NODES:
            if event.type == "DELETED" and meta["name"] in self._node_load:
                self._enqueue("node", "", meta["name"])  # a kubelet registers its Node again

    def _wake_waiting(self, namespace: str) -> None:
        for handle in self._waiting.get(namespace, ()):
            handle.wake.set()

    async def _run(self) -> None:
        handlers: dict[str, Callable[[str, str], None]] = {
            "node": self._sync_node, "sts": self._sync_stateful_set, "deploy": self._sync_deployment,
            "rs": self._sync_replica_set, "pod": self._sync_pod, "svc": self._sync_service,
        }
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                del self._pending[key]
                what, namespace, name = key
                try:
                    handlers[what](namespace, name)
                except StatusError as exc:
                    # Lost a race with a client (changed, deleted, namespace terminating): its next event, if
                    # any, brings the object back.
                    log.debug("workloads: %s %s/%s: %s", what, namespace, name, exc)
                except Exception:  # a bug here must not stop every other workload
                    log.exception("workloads: reconciling %s %s/%s failed", what, namespace, name)
                await asyncio.sleep(0)

    # --- storage helpers ---------------------------------------------------------------------------------

    def _rt(self, gr: GroupResource) -> ResourceType:
        rt = self._storage.registry.storage_type(*gr)
        assert rt is not None
        return rt

    def _create(self, gr: GroupResource, namespace: str, obj: Obj, ctx: RequestContext) -> Obj:
        return self._storage.create(self._rt(gr), namespace, obj, ctx)

    def _update(self, gr: GroupResource, obj: Obj, ctx: RequestContext, subresource: str = "") -> Obj:
        meta = obj["metadata"]
        return self._storage.update(self._rt(gr), meta.get("namespace") or "", meta["name"], obj, ctx,
                                    subresource=subresource)

    def _write_status(self, gr: GroupResource, current: Obj, status: Obj, ctx: RequestContext) -> None:
        if current.get("status") != status:
            updated = dict(current)  # shallow: only `status` is replaced
            updated["status"] = status
            self._update(gr, updated, ctx, "status")

    def _delete(self, gr: GroupResource, obj: Obj, ctx: RequestContext) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        self._storage.delete(self._rt(gr), meta.get("namespace") or "", meta["name"],
                             DeleteOptions(preconditions_uid=meta["uid"]), ctx)

    def _owned(self, owner: Obj, gr: GroupResource) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        return [obj for dep_gr, obj in self._store.dependents_of(uid)
                if dep_gr == gr and any(r.get("uid") == uid and r.get("controller")
                                        for r in obj["metadata"].get("ownerReferences") or ())]

    # --- nodes -------------------------------------------------------------------------------------------

    def _sync_node(self, _namespace: str, name: str) -> None:
        node = self._store.get(NODES, "", name)
        kubelet = RequestContext(user=f"system:node:{name}", field_manager="kubelet")
        if node is None:
            node = self._create(NODES, "", {"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                           "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                           "type": "kwok"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            }, "spec": {}}, kubelet)
        if node["metadata"].get("deletionTimestamp"):
            return
        status = copy.deepcopy(node.get("status") or {})
        now = now_rfc3339()
        previous = {c.get("type"): c for c in status.get("conditions") or ()}
        conditions = []
        for type_, value, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ):
            old = previous.get(type_)
            if old is not None and old.get("status") == value:
                conditions.append(old)
            else:
                conditions.append({"type": type_, "status": value, "reason": reason, "message": message,
                                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        status.update({
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.node_address}, {"type": "Hostname", "address": name}],
            "capacity": capacity, "allocatable": dict(capacity),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.2",
                         "kernelVersion": "simulated", "kubeProxyVersion": KUBELET_VERSION,
                         "kubeletVersion": KUBELET_VERSION, "machineID": "", "operatingSystem": "linux",
                         "osImage": "k0smotron envtest (simulated)", "systemUUID": ""},
        })
        self._write_status(NODES, node, status, kubelet)

    # --- StatefulSets ------------------------------------------------------------------------------------

    def _sync_stateful_set(self, namespace: str, name: str) -> None:
        sts = self._store.get(STATEFULSETS, namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return  # its pods go by garbage collection
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        start = int((spec.get("ordinals") or {}).get("start", 0))
        ordered = spec.get("podManagementPolicy") != "Parallel"
        update_revision = f"{name}-{template_hash(spec.get('template') or {})}"
        pods: dict[int, Obj] = {}
        for pod in self._owned(sts, PODS):
            prefix, _, ordinal = pod["metadata"]["name"].rpartition("-")
            if prefix == name and ordinal.isdigit():
                pods[int(ordinal)] = pod
        wanted = range(start, start + replicas)
        acted = self._sts_create(sts, pods, wanted, update_revision, ordered)
        if not (ordered and acted):
            acted = self._sts_scale_down(sts, pods, wanted, ordered) or acted
        if not acted and all(o in pods and is_ready(pods[o]) for o in wanted) and \
                (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            self._sts_roll(sts, pods, wanted, update_revision)
        self._sts_status(sts, update_revision)

    def _sts_create(self, sts: Obj, pods: dict[int, Obj], wanted: range, revision: str, ordered: bool) -> bool:
        acted = False
        for ordinal in wanted:
            pod = pods.get(ordinal)
            if pod is None:
                pods[ordinal] = self._create_sts_pod(sts, ordinal, revision)
                acted = True
                if ordered:
                    return True  # OrderedReady: the next ordinal waits until this one is Ready
            elif ordered and not is_ready(pod):
                return acted
        return acted

    def _sts_scale_down(self, sts: Obj, pods: dict[int, Obj], wanted: range, ordered: bool) -> bool:
        condemned = sorted((o for o in pods if o not in wanted), reverse=True)
        if not condemned:
            return False
        if ordered:
            # One at a time, highest first, and only while the pods that stay are healthy.
            if not all(o in pods and is_ready(pods[o]) for o in wanted):
                return False
            condemned = condemned[:1]
        spec = sts.get("spec") or {}
        delete_claims = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenScaled") == "Delete"
        for ordinal in condemned:
            self._delete(PODS, pods.pop(ordinal), _CONTROLLER_MANAGER)
            if delete_claims:
                for claim in spec.get("volumeClaimTemplates") or ():
                    pvc = self._store.get(PVCS, sts["metadata"]["namespace"],
                                          self._claim_name(claim, sts, ordinal))
                    if pvc is not None:
                        self._delete(PVCS, pvc, _CONTROLLER_MANAGER)
        return True

    def _sts_roll(self, sts: Obj, pods: dict[int, Obj], wanted: range, revision: str) -> None:
        """RollingUpdate: once every pod is Ready, delete the highest-ordinal pod of an old revision at or above
        the partition; it comes back from the new template on the next pass."""
        rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = int(rolling.get("partition") or 0)
        for ordinal in sorted(wanted, reverse=True):
            pod = pods[ordinal]
            if ordinal >= partition and pod["metadata"].get("labels", {}).get(REVISION_LABEL) != revision:
                self._delete(PODS, pod, _CONTROLLER_MANAGER)
                return

    def _sts_status(self, sts: Obj, update_revision: str) -> None:
        pods = self._owned(sts, PODS)
        old = sts.get("status") or {}
        current_revision = old.get("currentRevision") or update_revision
        updated = sum(1 for p in pods if p["metadata"].get("labels", {}).get(REVISION_LABEL) == update_revision)
        replicas = int((sts.get("spec") or {}).get("replicas", 1))
        if updated == len(pods) == replicas:
            current_revision = update_revision
        current = sum(1 for p in pods if p["metadata"].get("labels", {}).get(REVISION_LABEL) == current_revision)
        ready = sum(1 for p in pods if is_ready(p))
        status: Obj = {
            **{k: v for k, v in old.items() if k not in ("readyReplicas", "currentReplicas", "updatedReplicas")},
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "availableReplicas": ready,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": old.get("collisionCount", 0),
        }
        # Zero counts are omitted (omitempty), as the real controller's status reads.
        for key, value in (("readyReplicas", ready), ("currentReplicas", current), ("updatedReplicas", updated)):
            if value:
                status[key] = value
        self._write_status(STATEFULSETS, sts, status, _CONTROLLER_MANAGER)

    @staticmethod
    def _claim_name(claim: Obj, sts: Obj, ordinal: int) -> str:
        return f"{(claim.get('metadata') or {}).get('name', '')}-{sts['metadata']['name']}-{ordinal}"

    def _create_sts_pod(self, sts: Obj, ordinal: int, revision: str) -> Obj:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        namespace, name = meta["namespace"], f"{meta['name']}-{ordinal}"
        template = spec.get("template") or {}
        pod_spec = copy.deepcopy(template.get("spec") or {})
        claims = spec.get("volumeClaimTemplates") or ()
        if claims:
            volumes = {v.get("name"): v for v in pod_spec.get("volumes") or ()}
            for claim in claims:
                claim_name = self._claim_name(claim, sts, ordinal)
                self._ensure_claim(sts, claim, claim_name)
                volume_name = (claim.get("metadata") or {}).get("name", "")
                volumes[volume_name] = {"name": volume_name, "persistentVolumeClaim": {"claimName": claim_name}}
            pod_spec["volumes"] = list(volumes.values())
        pod_spec.setdefault("hostname", name)
        if spec.get("serviceName"):
            pod_spec.setdefault("subdomain", spec["serviceName"])
        template_meta = template.get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}), REVISION_LABEL: revision, POD_NAME_LABEL: name,
                  POD_INDEX_LABEL: str(ordinal)}
        pod_meta: Obj = {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [_owner_ref(sts)]}
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        return self._create(PODS, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                                              "spec": pod_spec}, _CONTROLLER_MANAGER)

    def _ensure_claim(self, sts: Obj, claim: Obj, claim_name: str) -> None:
        namespace = sts["metadata"]["namespace"]
        pvc = self._store.get(PVCS, namespace, claim_name)
        if pvc is None:
            claim_meta = claim.get("metadata") or {}
            labels = {**(claim_meta.get("labels") or {}),
                      **((sts["spec"].get("selector") or {}).get("matchLabels") or {})}
            meta: Obj = {"name": claim_name, "namespace": namespace, "labels": labels}
            if claim_meta.get("annotations"):
                meta["annotations"] = dict(claim_meta["annotations"])
            retention = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
            if retention.get("whenDeleted") == "Delete":
                # The real controller hands the claim to the garbage collector through an owner reference.
                meta["ownerReferences"] = [{**_owner_ref(sts), "controller": True}]
            pvc = self._create(PVCS, namespace, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                 "metadata": meta, "spec": copy.deepcopy(claim.get("spec") or {})},
                               _CONTROLLER_MANAGER)
        if (pvc.get("status") or {}).get("phase") != "Bound":
            spec = pvc.get("spec") or {}
            status = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                      "capacity": dict((spec.get("resources") or {}).get("requests") or {"storage": "1Gi"})}
            self._write_status(PVCS, pvc, status, _CONTROLLER_MANAGER)

    # --- Deployments and ReplicaSets ---------------------------------------------------------------------

    def _sync_deployment(self, namespace: str, name: str) -> None:
        deploy = self._store.get(DEPLOYMENTS, namespace, name)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return
        spec = deploy.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template, int((deploy.get("status") or {}).get("collisionCount", 0)))
        owned = self._owned(deploy, REPLICASETS)
        new_rs = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(POD_TEMPLATE_HASH_LABEL)
                       == pod_hash), None)
        olds = [rs for rs in owned if rs is not new_rs]
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0") or 0) for rs in owned]
        for old in olds:
            if (old.get("spec") or {}).get("replicas", 1) != 0:
                scaled = copy.deepcopy(old)
                scaled["spec"]["replicas"] = 0
                self._update(REPLICASETS, scaled, _CONTROLLER_MANAGER)
        # Recreate-style: the new ReplicaSet grows once the old ones have no pods left.
        olds_gone = all(not self._owned(old, PODS) for old in olds)
        target = desired if olds_gone else 0
        if new_rs is None:
            template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH_LABEL] = pod_hash
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH_LABEL] = pod_hash
            revision = str(max(revisions, default=0) + 1)
            new_rs = self._create(REPLICASETS, namespace, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{pod_hash}", "namespace": namespace,
                             "labels": dict(template["metadata"]["labels"]),
                             "annotations": {REVISION_ANNOTATION: revision,
                                             "deployment.kubernetes.io/desired-replicas": str(desired),
                                             "deployment.kubernetes.io/max-replicas": str(desired)},
                             "ownerReferences": [_owner_ref(deploy)]},
                "spec": {"replicas": target, "selector": selector, "template": template,
                         "minReadySeconds": spec.get("minReadySeconds", 0)},
            }, _CONTROLLER_MANAGER)
        elif (new_rs.get("spec") or {}).get("replicas") != target:
            scaled = copy.deepcopy(new_rs)
            scaled["spec"]["replicas"] = target
            annotations = scaled["metadata"].setdefault("annotations", {})
            annotations["deployment.kubernetes.io/desired-replicas"] = str(desired)
            annotations["deployment.kubernetes.io/max-replicas"] = str(desired)
            new_rs = self._update(REPLICASETS, scaled, _CONTROLLER_MANAGER)
        self._prune_history(deploy, olds)
        revision = new_rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION)
        if revision and deploy["metadata"].get("annotations", {}).get(REVISION_ANNOTATION) != revision:
            annotated = copy.deepcopy(deploy)
            annotated["metadata"].setdefault("annotations", {})[REVISION_ANNOTATION] = revision
            deploy = self._update(DEPLOYMENTS, annotated, _CONTROLLER_MANAGER)
        self._deployment_status(deploy, new_rs, desired)

    def _prune_history(self, deploy: Obj, olds: list[Obj]) -> None:
        limit = int((deploy.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [rs for rs in olds if not (rs.get("spec") or {}).get("replicas") and not self._owned(rs, PODS)]
        idle.sort(key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0") or 0))
        for rs in idle[:max(len(idle) - limit, 0)]:
            self._delete(REPLICASETS, rs, _CONTROLLER_MANAGER)

    def _deployment_status(self, deploy: Obj, new_rs: Obj, desired: int) -> None:
        owned = self._owned(deploy, REPLICASETS)

        def total(key: str, sets: Iterable[Obj]) -> int:
            return sum(int((rs.get("status") or {}).get(key, 0)) for rs in sets)

        replicas, ready, available = total("replicas", owned), total("readyReplicas", owned), \
            total("availableReplicas", owned)
        updated = total("replicas", [rs for rs in owned if rs["metadata"]["uid"] == new_rs["metadata"]["uid"]])
        old = deploy.get("status") or {}
        now = now_rfc3339()
        conditions = {c["type"]: c for c in old.get("conditions") or ()}
        max_unavailable = _max_unavailable(deploy, desired)
        if available >= desired - max_unavailable:
            _condition(conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum "
                       "availability.", now)
        else:
            _condition(conditions, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have "
                       "minimum availability.", now)
        rs_name = new_rs["metadata"]["name"]
        if updated == desired == replicas == available:
            _condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                       f'ReplicaSet "{rs_name}" has successfully progressed.', now)
        else:
            _condition(conditions, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is '
                       "progressing.", now)
        status: Obj = {"observedGeneration": deploy["metadata"].get("generation", 1),
                       "conditions": [conditions[t] for t in ("Available", "Progressing")]}
        for key, value in (("replicas", replicas), ("updatedReplicas", updated), ("readyReplicas", ready),
                           ("availableReplicas", available),
                           ("unavailableReplicas", max(replicas, desired) - available)):
            if value > 0:
                status[key] = value
        if old.get("collisionCount"):
            status["collisionCount"] = old["collisionCount"]
        self._write_status(DEPLOYMENTS, deploy, status, _CONTROLLER_MANAGER)

    def _sync_replica_set(self, namespace: str, name: str) -> None:
        rs = self._store.get(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        spec = rs.get("spec") or {}
        pods = [p for p in self._owned(rs, PODS) if not p["metadata"].get("deletionTimestamp")]
        diff = int(spec.get("replicas", 1)) - len(pods)
        if diff > 0:
            template = spec.get("template") or {}
            template_meta = template.get("metadata") or {}
            for _ in range(diff):
                meta: Obj = {"generateName": f"{name}-", "namespace": namespace,
                             "labels": dict(template_meta.get("labels") or {}), "ownerReferences": [_owner_ref(rs)]}
                if template_meta.get("annotations"):
                    meta["annotations"] = dict(template_meta["annotations"])
                pods.append(self._create(PODS, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                                                           "spec": copy.deepcopy(template.get("spec") or {})},
                                         _CONTROLLER_MANAGER))
        elif diff < 0:
            # As the real controller ranks them: unscheduled, then not ready, then the youngest go first.
            victims = sorted(pods, key=lambda p: (bool((p.get("spec") or {}).get("nodeName")), is_ready(p),
                                                  _negated(p["metadata"].get("creationTimestamp", ""))))[:-diff]
            for pod in victims:
                self._delete(PODS, pod, _CONTROLLER_MANAGER)
            victim_uids = {p["metadata"]["uid"] for p in victims}
            pods = [p for p in pods if p["metadata"]["uid"] not in victim_uids]
        selector = label_selector_from_match(spec.get("selector"))
        ready = sum(1 for p in pods if is_ready(p))
        status: Obj = {"replicas": len(pods), "observedGeneration": rs["metadata"].get("generation", 1)}
        labeled = sum(1 for p in pods if selector.matches(p["metadata"].get("labels")))
        for key, value in (("fullyLabeledReplicas", labeled), ("readyReplicas", ready),
                           ("availableReplicas", ready)):
            if value:
                status[key] = value
        self._write_status(REPLICASETS, rs, status, _CONTROLLER_MANAGER)

    # --- the scheduler and the kubelet -------------------------------------------------------------------

    def runtime_for(self, pod: Obj) -> PodRuntime:
        spec = pod.get("spec") or {}
        for container in spec.get("containers") or ():
            image = str(container.get("image") or "")
            for prefix, runtime in self._runtimes:
                if image_matches(prefix, image):
                    return runtime
        return self._generic

    def _sync_pod(self, namespace: str, name: str) -> None:
        pod = self._store.get(PODS, namespace, name)
        if pod is None:
            return
        uid = pod["metadata"]["uid"]
        handle = self._pods.get(uid)
        if pod["metadata"].get("deletionTimestamp"):
            # Held by finalizers: the containers stop now, the object goes when its finalizers are removed.
            if handle is not None:
                self._forget(handle)
                self._stop_pod(handle)
            return
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            self._bind(pod)
            return
        if spec["nodeName"] not in self._node_load:
            return  # bound to a node some other kubelet runs
        if handle is None:
            handle = _PodHandle(uid, namespace, name, self.runtime_for(pod), pod)
            self._pods[uid] = handle
            handle.task = asyncio.get_running_loop().create_task(self._run_pod(handle), name=f"pod-{namespace}-{name}")
        handle.pod = pod
        self._write_pod_status(pod, handle.ready)

    def _bind(self, pod: Obj) -> None:
        """What kube-scheduler's binding does: the least loaded simulated node, and PodScheduled."""
        node = min(self.node_names, key=lambda n: (self._node_load[n], n))
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = node
        bound = self._update(PODS, bound, _SCHEDULER)
        self._node_load[node] += 1
        status = copy.deepcopy(bound.get("status") or {})
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conditions
        self._write_status(PODS, bound, status, _SCHEDULER)

    async def _run_pod(self, handle: _PodHandle) -> None:
        """Start the pod's runtime until it says ready (retrying while it waits for something), then report."""
        while True:
            try:
                ready = await handle.runtime.start(handle.pod)
            except Exception:
                log.exception("workloads: runtime of pod %s/%s failed to start", handle.namespace, handle.name)
                ready = False
            if ready:
                break
            waiting = self._waiting.setdefault(handle.namespace, set())
            waiting.add(handle)
            handle.wake.clear()
            try:
                await asyncio.wait_for(handle.wake.wait(), _RETRY_S)
            except TimeoutError:
                pass
            waiting.discard(handle)
            if self._pods.get(handle.uid) is not handle:
                return
        self._waiting.get(handle.namespace, set()).discard(handle)
        if self.pod_ready_delay_s > 0:
            await asyncio.sleep(self.pod_ready_delay_s)
        handle.ready = True
        self._enqueue("pod", handle.namespace, handle.name)

    def _write_pod_status(self, pod: Obj, ready: bool) -> None:
        spec = pod.get("spec") or {}
        old = pod.get("status") or {}
        now = now_rfc3339()
        uid = pod["metadata"]["uid"]
        conditions = {c.get("type"): c for c in old.get("conditions") or ()}
        flag = "True" if ready else "False"
        for type_ in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"):
            value = "True" if type_ in ("PodReadyToStartContainers", "Initialized") else flag
            if (conditions.get(type_) or {}).get("status") != value:
                condition: Obj = {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": now}
                if value == "False":
                    condition["reason"] = "ContainersNotReady"
                    condition["message"] = "containers with unready status: [" + " ".join(
                        c.get("name", "") for c in spec.get("containers") or ()) + "]"
                conditions[type_] = condition
        ip = self._pod_ip(uid)
        status: Obj = {**old, "phase": "Running" if ready else "Pending",
                       "conditions": [conditions[t] for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                                              "ContainersReady", "PodScheduled") if t in conditions],
                       "hostIP": self.node_address, "hostIPs": [{"ip": self.node_address}],
                       "startTime": old.get("startTime") or now}
        if ready:
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        started_at = old.get("startTime") or now
        status["containerStatuses"] = [
            _container_status(c, ready, started_at, uid, terminated=False) for c in spec.get("containers") or ()]
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                _container_status(c, False, started_at, uid, terminated=True) for c in spec["initContainers"]]
        if _status_differs(old, status):
            self._write_status(PODS, pod, status, RequestContext(user=f"system:node:{spec.get('nodeName')}",
                                                                 field_manager="kubelet"))

    def _pod_ip(self, uid: str) -> str:
        ip = self._pod_ips.get(uid)
        if ip is None:
            value = heapq.heappop(self._ip_free) if self._ip_free else self._ip_next
            if value == self._ip_next:
                self._ip_next += 1
            if value >= int(POD_CIDR.broadcast_address):
                raise RuntimeError("the simulated pod network 10.244.0.0/16 is exhausted")
            ip = self._pod_ips[uid] = str(ipaddress.ip_address(value))
        return ip

    def _pod_gone(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        ip = self._pod_ips.pop(uid, None)
        if ip is not None:
            heapq.heappush(self._ip_free, int(ipaddress.ip_address(ip)))
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self._node_load:
            self._node_load[node] = max(self._node_load[node] - 1, 0)
        handle = self._pods.get(uid)
        if handle is not None:
            self._forget(handle)
            self._stop_pod(handle)

    def _forget(self, handle: _PodHandle) -> None:
        self._pods.pop(handle.uid, None)
        self._waiting.get(handle.namespace, set()).discard(handle)

    def _stop_pod(self, handle: _PodHandle) -> None:
        if handle.task is not None and not handle.task.done():
            handle.task.cancel()
        loop = asyncio.get_running_loop()

        async def stop() -> None:
            if handle.task is not None:
                # A start in flight finishes (or is cancelled) before its stop.
                await asyncio.gather(handle.task, return_exceptions=True)
            try:
                await handle.runtime.stop(handle.pod)
            except Exception:
                log.exception("workloads: runtime of pod %s/%s failed to stop", handle.namespace, handle.name)

        task = loop.create_task(stop(), name=f"stop-pod-{handle.namespace}-{handle.name}")
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    # --- Services ----------------------------------------------------------------------------------------

    def service_for(self, pod: Obj, port_name: str) -> Obj | None:
        """The Service (first by name) in the pod's namespace that selects it and has a port named `port_name`."""
        labels = pod["metadata"].get("labels") or {}
        for svc in self._store.objects(SERVICES, pod["metadata"].get("namespace") or ""):
            spec = svc.get("spec") or {}
            selector = spec.get("selector")
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            if any(p.get("name") == port_name for p in spec.get("ports") or ()):
                return svc
        return None

    def _sync_service(self, namespace: str, name: str) -> None:
        svc = self._store.get(SERVICES, namespace, name)
        if svc is None:
            return
        uid = svc["metadata"]["uid"]
        if (svc.get("spec") or {}).get("type") != "LoadBalancer" or svc["metadata"].get("deletionTimestamp"):
            self._release_lb(uid)
            return
        ip = self._lb_by_uid.get(uid) or self._next_lb_address()
        if ip is None:
            log.warning("workloads: no load balancer address left for Service %s/%s", namespace, name)
            return
        self._lb_by_uid[uid] = ip
        status = copy.deepcopy(svc.get("status") or {})
        wanted = [{"ip": ip, "ipMode": "VIP"}]
        if (status.get("loadBalancer") or {}).get("ingress") != wanted:
            status["loadBalancer"] = {"ingress": wanted}
            self._write_status(SERVICES, svc, status, _CLOUD)

    def _next_lb_address(self) -> str | None:
        while self._lb_free:
            _, ip = heapq.heappop(self._lb_free)
            if ip not in self._lb_taken:
                self._lb_taken.add(ip)
                return ip
        for ip in self._lb_source:
            if ip not in self._lb_taken:
                self._lb_taken.add(ip)
                return ip
        return None

    def _release_lb(self, uid: str) -> None:
        ip = self._lb_by_uid.pop(uid, None)
        if ip is not None:
            self._lb_taken.discard(ip)
            heapq.heappush(self._lb_free, (int(ipaddress.ip_address(ip)), ip))


def _negated(text: str) -> str:
    """A sort key that orders RFC 3339 timestamps newest first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _max_unavailable(deploy: Obj, desired: int) -> int:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    raw = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(raw, str) and raw.endswith("%"):
        return desired * int(raw[:-1]) // 100
    return int(raw)


def _condition(conditions: dict[str, Obj], type_: str, status: str, reason: str, message: str, now: str) -> None:
    existing = conditions.get(type_)
    if existing and existing.get("status") == status and existing.get("reason") == reason \
            and existing.get("message") == message:
        return
    transition = existing["lastTransitionTime"] if existing and existing.get("status") == status else now
    conditions[type_] = {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": transition,
                         "reason": reason, "message": message}


def _container_status(container: Obj, ready: bool, started_at: str, uid: str, *, terminated: bool) -> Obj:
    name = container.get("name", "")
    image = container.get("image", "")
    container_id = "containerd://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()
    status: Obj = {"name": name, "image": image, "imageID": f"{image.split('@')[0]}@sha256:" +
                   hashlib.sha256(image.encode()).hexdigest(), "restartCount": 0}
    if terminated:
        status.update(ready=False, started=False, containerID=container_id,
                      state={"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started_at,
                                            "finishedAt": started_at, "containerID": container_id}})
    elif ready:
        status.update(ready=True, started=True, containerID=container_id,
                      state={"running": {"startedAt": started_at}})
    else:
        status.update(ready=False, started=False, state={"waiting": {"reason": "ContainerCreating"}})
    return status


def _status_differs(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return dict(old) != dict(new)

