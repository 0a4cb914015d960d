"""The simulator's connections to child clusters, found as CAPI core finds them: through the `<cluster>-kubeconfig`
Secret (key `value`) in the management cluster. A client and a Node informer per child, reopened when the Secret
changes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ...runtime import Cache, CacheOptions, Client, EventHandler, Informer, RESTMapper
from ...runtime._workload import WorkloadClusterUnavailable, transport_from_kubeconfig
from ._connection import SIMULATOR_NAME
from ._objects import Obj

NodeListener = Callable[[str, str, Obj], None]
"""Called with (namespace, cluster, node) on every Node event of a child cluster."""


@dataclass
class WorkloadCluster:
    client: Client
    nodes: Informer
    secret_version: str


class WorkloadClusters:
    """Opens a connection the first time a Cluster's workload is needed; Node events go to `on_node`."""

    def __init__(self, management: Client) -> None:
        self._management = management
        self.on_node: NodeListener = lambda _namespace, _cluster, _node: None
        self._open: dict[tuple[str, str], WorkloadCluster] = {}

    async def get(self, namespace: str, cluster: str) -> WorkloadCluster | None:
        secret = await self._management.get_live("v1", "Secret", f"{cluster}-kubeconfig", namespace)
        kubeconfig = _kubeconfig(secret)
        if secret is None or kubeconfig is None:
            return None
        version = str(secret["metadata"].get("resourceVersion", ""))
        existing = self._open.get((namespace, cluster))
        if existing is not None:
            if existing.secret_version == version:
                return existing
            await self._close(existing)
            del self._open[(namespace, cluster)]
        try:
            # No client-side rate limit (0 QPS): the simulator must never be what slows a test down.
            transport = await transport_from_kubeconfig(kubeconfig, user_agent=SIMULATOR_NAME, qps=0.0)
        except WorkloadClusterUnavailable:
            return None
        mapper = RESTMapper(transport)
        client = Client(transport, mapper, Cache(transport, mapper, CacheOptions()), field_manager=SIMULATOR_NAME)
        nodes = await client.cache.informer("v1", "Node")

        def tell(node: Obj) -> None:
            self.on_node(namespace, cluster, node)

        nodes.add_handler(EventHandler(on_add=tell, on_update=lambda _old, new: tell(new), on_delete=tell))
        client.cache.start()
        workload = WorkloadCluster(client, nodes, version)
        self._open[(namespace, cluster)] = workload
        return workload

    async def close(self) -> None:
        for workload in self._open.values():
            await self._close(workload)
        self._open.clear()

    @staticmethod
    async def _close(workload: WorkloadCluster) -> None:
        await workload.client.cache.stop()
        await workload.client.transport.close()


def _kubeconfig(secret: dict[str, Any] | None) -> dict[str, Any] | None:
    encoded = ((secret or {}).get("data") or {}).get("value")
    if not encoded:
        return None
    try:
        loaded = YAML(typ="safe", pure=True).load(base64.b64decode(encoded))
    except (binascii.Error, ValueError, YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None
