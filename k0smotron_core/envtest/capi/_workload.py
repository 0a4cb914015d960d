"""The simulator's connections to child clusters: a client and a Node informer per registered child."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...runtime import Client, EventHandler, Informer
from ._child import ChildClusters
from ._objects import Obj

NodeListener = Callable[[str, str, Obj], None]
"""Called with (namespace, cluster, node) on every Node event of a child cluster."""

_USER = "system:serviceaccount:capi-system:capi-controller-manager"


@dataclass
class WorkloadCluster:
    client: Client
    nodes: Informer


class WorkloadClusters:
    """Opens a connection the first time a Cluster's workload is needed; Node events go to `on_node`."""

    def __init__(self, children: ChildClusters) -> None:
        self._children = children
        self.on_node: NodeListener = lambda _namespace, _cluster, _node: None
        self._open: dict[tuple[str, str], WorkloadCluster] = {}

    async def get(self, namespace: str, cluster: str) -> WorkloadCluster | None:
        child = self._children.get(namespace, cluster)
        if child is None:
            return None
        existing = self._open.get((namespace, cluster))
        if existing is not None:
            return existing
        client = child.client(user=_USER)
        nodes = await client.cache.informer("v1", "Node")

        def tell(node: Obj) -> None:
            self.on_node(namespace, cluster, node)

        nodes.add_handler(EventHandler(on_add=tell, on_update=lambda _old, new: tell(new), on_delete=tell))
        client.cache.start()
        workload = WorkloadCluster(client, nodes)
        self._open[(namespace, cluster)] = workload
        return workload

    async def close(self) -> None:
        for workload in self._open.values():
            await workload.client.cache.stop()
            await workload.client.transport.close()
        self._open.clear()
