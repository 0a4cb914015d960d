"""What runs inside a simulated Pod: a `PodRuntime`, chosen by the image of the pod's containers.

The generic runtime is ready at once. The k0s controller runtime stands in for a hosted k0s control plane: the
first pod of a StatefulSet of `k0sproject/k0s` starts a child `EnvTest` that serves with the cluster CA mounted into
the pod, on the address the Service in front of the pod exposes; the last pod to go stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ... import pki

if TYPE_CHECKING:
    from .._server import EnvTest
    from ._simulator import WorkloadSimulator

log = logging.getLogger("k0smotron_core.envtest.workloads")

Obj = dict[str, Any]
ChildKey = tuple[str, str]
"""(namespace, StatefulSet name) of a child cluster."""

K0S_IMAGES = ("quay.io/k0sproject/k0s", "docker.io/k0sproject/k0s", "k0sproject/k0s")
CERTS_VOLUME = "certs"
API_PORT_NAME = "api"


class PodRuntime(Protocol):
    """What the simulated kubelet runs for a pod.

    `start` is called when the pod is bound to a node, and again (about every second, and whenever a Service or
    Secret in the pod's namespace changes) for as long as it answers False: it must be idempotent. True means the
    pod's containers are ready. `stop` is called once the pod is deleted (or the simulator stops), also for a pod
    whose `start` never answered True."""

    async def start(self, pod: Obj) -> bool: ...

    async def stop(self, pod: Obj) -> None: ...


class GenericRuntime:
    """Containers that are ready as soon as they start."""

    async def start(self, pod: Obj) -> bool:
        return True

    async def stop(self, pod: Obj) -> None:
        return None


def image_matches(prefix: str, image: str) -> bool:
    """`prefix` names the image itself or a repository path above it: equal, or followed by `:`, `@` or `/`, so
    that `quay.io/k0sproject/k0s` matches `quay.io/k0sproject/k0s:v1.27.2-k0s.0` but not `.../k0smotron`."""
    return image == prefix or (image.startswith(prefix) and (prefix.endswith("/") or image[len(prefix)] in ":@/"))


def controller_owner(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return ref  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class _PreloadedKeyPair(pki.KeyPair):
    """A CA whose private key is parsed without OpenSSL's RSA consistency check: that check costs ~40 ms per load
    of a 2048-bit key, and the child API server loads its CA key for its serving certificate and every CSR it signs
    (100 control planes would spend seconds on it). The key is the cluster's own, from its Secret; a broken one
    still fails, when signing."""

    def private_key(self) -> pki.PrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("unsupported private key type")
        return key


class K0sControllerRuntime:
    """A k0s controller pod: one child API server per StatefulSet (the k0s controllers of a hosted control plane
    share one API, as they share one datastore), started by the first pod, stopped when the last one goes."""

    def __init__(self, simulator: WorkloadSimulator) -> None:
        self._sim = simulator
        self._pods: dict[ChildKey, set[str]] = {}
        self._starting: dict[ChildKey, asyncio.Task[EnvTest]] = {}
        self._warned: set[ChildKey] = set()

    @staticmethod
    def _key(pod: Obj) -> ChildKey:
        meta = pod["metadata"]
        owner = controller_owner(pod, "StatefulSet")
        return (meta.get("namespace") or "", str(owner["name"]) if owner is not None else meta["name"])

    async def start(self, pod: Obj) -> bool:
        key = self._key(pod)
        self._pods.setdefault(key, set()).add(pod["metadata"]["uid"])
        if key in self._sim.child_clusters:
            return True
        starting = self._starting.get(key)
        if starting is None:
            endpoint = self._endpoint(pod)
            found, ca = self._cluster_ca(pod)
            if endpoint is None or not found:
                return False  # no Service in front of it yet, or its CA Secret is missing: wait, as k0s would
            host, port, sans = endpoint
            starting = asyncio.get_running_loop().create_task(
                self._start_child(key, ca, host, port, sans), name=f"k0s-{key[0]}-{key[1]}")
            self._starting[key] = starting
        try:
            child = await asyncio.shield(starting)
        except OSError as exc:
            # The address is taken (two ClusterIP Services on one port, say): not ready; retried later, and
            # reported once rather than on every retry.
            if key not in self._warned:
                self._warned.add(key)
                log.warning("k0s control plane %s/%s cannot listen: %s", key[0], key[1], exc)
            return False
        finally:
            # Whoever sees the start finish first takes it over, unless `stop` already did.
            owned = self._starting.get(key) is starting
            if owned and starting.done():
                del self._starting[key]
        if not self._pods.get(key):
            # Every pod went away while the API server was starting.
            if owned:
                await self._stop_child(key, child)
            return False
        self._warned.discard(key)
        self._sim.child_clusters.setdefault(key, child)
        return self._sim.child_clusters[key] is child

    async def stop(self, pod: Obj) -> None:
        key = self._key(pod)
        pods = self._pods.get(key)
        if pods is None:
            return
        pods.discard(pod["metadata"]["uid"])
        if pods:
            return
        del self._pods[key]
        child = self._sim.child_clusters.pop(key, None)
        starting = self._starting.pop(key, None)
        if child is None and starting is not None:
            # The last pod went while its API server was starting (its kubelet cancelled the pod's start, which
            # leaves the shielded start running): take the server over and stop it.
            try:
                child = await starting
            except OSError:
                child = None
        if child is not None:
            await self._stop_child(key, child)

    async def _start_child(self, key: ChildKey, ca: pki.KeyPair | None, host: str, port: int,
                           sans: list[str]) -> EnvTest:
        from .._server import EnvTest  # the server (aiohttp) loads only when a k0s pod runs

        child = EnvTest(ca=ca, host=host, port=port, extra_sans=sans, name=key[1])
        await child.start()
        log.info("k0s control plane %s/%s serves on %s", key[0], key[1], child.url)
        return child

    async def _stop_child(self, key: ChildKey, child: EnvTest) -> None:
        await child.stop()
        log.info("k0s control plane %s/%s stopped", key[0], key[1])

    def _endpoint(self, pod: Obj) -> tuple[str, int, list[str]] | None:
        """Where the child API server listens: the address at which the Service selecting the pod exposes its
        `api` port (see docs/envtest.md, "Workload simulation"), and the names its certificate carries."""
        service = self._sim.service_for(pod, API_PORT_NAME)
        if service is None:
            return None
        svc_type = service["spec"].get("type") or "ClusterIP"
        port = next(p for p in service["spec"].get("ports") or () if p.get("name") == API_PORT_NAME)
        host = self._sim.node_address
        number = port.get("port")
        sans = [self._sim.node_address]
        if svc_type == "NodePort":
            number = port.get("nodePort")
        elif svc_type == "LoadBalancer":
            ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            ip = next((i["ip"] for i in ingress if i.get("ip")), None)
            if ip is None:
                return None  # the load balancer has no address yet
            host = ip
            sans.append(ip)
        if not isinstance(number, int):
            return None
        name, namespace = service["metadata"]["name"], service["metadata"].get("namespace") or ""
        sans += [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local",
                 "localhost", "127.0.0.1"]
        cluster_ip = service["spec"].get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            sans.append(cluster_ip)
        return host, number, list(dict.fromkeys(sans))

    def _cluster_ca(self, pod: Obj) -> tuple[bool, pki.KeyPair | None]:
        """Whether the pod's CA is available, and the cluster CA mounted as ca.crt/ca.key in its `certs` projected
        volume: None when the pod mounts no such volume (k0s then makes a CA of its own); not available while the
        Secret is missing or unusable."""
        secret_name = None
        for volume in pod["spec"].get("volumes") or ():
            if volume.get("name") != CERTS_VOLUME:
                continue
            for source in (volume.get("projected") or {}).get("sources") or ():
                secret = source.get("secret") or {}
                paths = {item.get("path") for item in secret.get("items") or ()}
                if "ca.crt" in paths or (not paths and str(secret.get("name", "")).endswith("-ca")):
                    secret_name = secret.get("name")
                    break
        if secret_name is None:
            return True, None
        namespace = pod["metadata"].get("namespace") or ""
        secret = self._sim.env.store.get(("", "secrets"), namespace, secret_name)
        if secret is None:
            return False, None
        try:
            pair = pki.key_pair_from_secret(secret)
            return True, _PreloadedKeyPair(pair.cert_pem, pair.key_pem)
        except ValueError as exc:
            log.warning("k0s pod %s/%s: CA secret %s unusable: %s", namespace, pod["metadata"]["name"],
                        secret_name, exc)
            return False, None
