"""Child (workload) clusters: a second envtest per Cluster, standing in for the API server a control plane
provider would bring up, and the management-cluster objects that make the Cluster look initialized.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ... import pki
from ...runtime import MERGE_PATCH, APIError, Client
from .._server import EnvTest
from ._connection import client_for
from ._objects import CAPI_API_VERSION, CLUSTER_NAME_LABEL, Conditions, Obj

CLUSTER_SECRET_TYPE = "cluster.x-k8s.io/secret"
_FIXTURE_USER = "capi-child-cluster-fixture"
_CONFLICT_RETRIES = 10


@dataclass
class ChildCluster:
    """A running child API server and the Cluster (namespace, name) it belongs to."""

    namespace: str
    cluster: str
    env: EnvTest
    ca: pki.KeyPair

    @property
    def host(self) -> str:
        return self.env.host

    @property
    def port(self) -> int:
        return self.env.port

    def kubeconfig_yaml(self) -> str:
        """An admin kubeconfig (token auth), as stored in the `<cluster>-kubeconfig` Secret."""
        return self.env.kubeconfig_yaml(user=f"{self.cluster}-admin", context=f"{self.cluster}-admin@{self.cluster}")

    def client(self, *, user: str) -> Client:
        return client_for(self.env, user=user)

    async def stop(self) -> None:
        await self.env.stop()


@dataclass
class ChildClusters:
    """The child API servers a test started, by Cluster, so tests can reach them and they stop with the environment.
    The simulator itself finds a Cluster's workload API server through `<cluster>-kubeconfig`, as CAPI core does."""

    _by_cluster: dict[tuple[str, str], ChildCluster] = field(default_factory=dict)

    def add(self, child: ChildCluster) -> ChildCluster:
        self._by_cluster[(child.namespace, child.cluster)] = child
        return child

    def get(self, namespace: str, cluster: str) -> ChildCluster | None:
        return self._by_cluster.get((namespace, cluster))

    def remove(self, namespace: str, cluster: str) -> ChildCluster | None:
        return self._by_cluster.pop((namespace, cluster), None)

    def __iter__(self) -> Iterator[ChildCluster]:
        return iter(list(self._by_cluster.values()))

    async def stop_all(self) -> None:
        for child in list(self._by_cluster.values()):
            await child.stop()
        self._by_cluster.clear()


async def start_child_cluster(cluster: str, namespace: str = "default", *, host: str = "127.0.0.1") -> ChildCluster:
    """A child API server that serves with a CA of its own (the one published as `<cluster>-ca`), listening on
    `host` (an address the cluster's machines can reach: simulated hosts in network namespaces cannot reach
    loopback)."""
    ca = pki.generate_ca(f"{cluster}-ca")
    env = EnvTest(ca=ca, name=cluster, host=host)
    await env.start()
    return ChildCluster(namespace, cluster, env, ca)


def _secret(name: str, namespace: str, cluster: str, data: dict[str, bytes]) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": CLUSTER_SECRET_TYPE,
        "metadata": {"name": name, "namespace": namespace, "labels": {CLUSTER_NAME_LABEL: cluster}},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


async def _create_or_replace(client: Client, obj: Obj) -> None:
    try:
        await client.create(obj)
    except APIError as error:
        if not error.conflict:
            raise
        meta = obj["metadata"]
        await client.patch("v1", "Secret", meta["name"], meta["namespace"], {"data": obj["data"]})


async def mark_control_plane_initialized(client: Client, child: ChildCluster) -> None:
    """Point the Cluster at the child and say its control plane is initialized, as a control plane provider and
    core together would have (endpoint in spec, `ControlPlaneInitialized` True in status)."""
    endpoint = {"host": child.host, "port": child.port}
    await client.patch(CAPI_API_VERSION, "Cluster", child.cluster, child.namespace,
                       {"spec": {"controlPlaneEndpoint": endpoint}})
    for _ in range(_CONFLICT_RETRIES):
        cluster = await client.get_live(CAPI_API_VERSION, "Cluster", child.cluster, child.namespace)
        if cluster is None:
            raise LookupError(f"Cluster {child.namespace}/{child.cluster} does not exist")
        conditions = Conditions(cluster)
        conditions.set("ControlPlaneInitialized", True)
        status: dict[str, Any] = {**conditions.status_patch(), "controlPlaneReady": True,
                                  "initialization": {"controlPlaneInitialized": True}}
        patch = {"metadata": {"resourceVersion": cluster["metadata"]["resourceVersion"]}, "status": status}
        try:
            await client.patch(CAPI_API_VERSION, "Cluster", child.cluster, child.namespace, patch,
                               patch_type=MERGE_PATCH, subresource="status")
            return
        except APIError as error:
            if not error.conflict:
                raise
    raise RuntimeError(f"Cluster {child.namespace}/{child.cluster} kept changing; could not mark it initialized")


async def initialized_control_plane(
    mgmt_env: EnvTest, *, cluster: str, namespace: str = "default", child_clusters: ChildClusters | None = None,
    host: str = "127.0.0.1",
) -> ChildCluster:
    """Start a child API server for an existing Cluster and make the Cluster look like its control plane is up:
    Secrets `<cluster>-ca` (tls.crt/tls.key) and `<cluster>-kubeconfig` (key `value`), the Cluster's
    `spec.controlPlaneEndpoint` and its `ControlPlaneInitialized` condition. Registers it in `child_clusters`.
    The caller stops it (`await child.stop()`, or `child_clusters.stop_all()`). `host` is the address it listens on
    and the Cluster's endpoint.
    """
    child = await start_child_cluster(cluster, namespace, host=host)
    client = client_for(mgmt_env, user=_FIXTURE_USER)
    try:
        await _create_or_replace(client, _secret(f"{cluster}-ca", namespace, cluster,
                                                 {"tls.crt": child.ca.cert_pem, "tls.key": child.ca.key_pem}))
        await _create_or_replace(client, _secret(f"{cluster}-kubeconfig", namespace, cluster,
                                                 {"value": child.kubeconfig_yaml().encode()}))
        await mark_control_plane_initialized(client, child)
    except BaseException:
        await child.stop()
        raise
    finally:
        await client.transport.close()
    if child_clusters is not None:
        child_clusters.add(child)
    return child
