"""Declaring a controller: the kind it reconciles, the kinds it owns, and extra watches with a mapping function.

    manager.controller("k0sworkerconfig") \\
        .reconciles(api.bootstrap.K0sWorkerConfig) \\
        .owns("v1", "Secret") \\
        .watches("cluster.x-k8s.io/v1beta1", "Machine", machine_to_config) \\
        .complete(reconcile)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api._base import Resource
from ._cache import EventHandler, Informer, owner_uid_index
from ._controller import Controller, Reconciler, Request

if TYPE_CHECKING:
    from ._manager import Manager

MapFunc = Callable[[dict[str, Any]], list[Request]]
"""From an event's object to the requests it should cause (e.g. a Machine to its bootstrap config)."""


def request_for(obj: dict[str, Any]) -> Request:
    meta = obj["metadata"]
    return Request(meta.get("namespace") or "", meta["name"])


def _kind_of(target: type[Resource] | tuple[str, str]) -> tuple[str, str]:
    if isinstance(target, tuple):
        return target
    return target.crd.api_version, target.crd.kind


@dataclass
class _Watch:
    api_version: str
    kind: str
    to_requests: MapFunc


@dataclass
class ControllerBuilder:
    manager: Manager
    name: str
    _for: tuple[str, str] | None = None
    _owns: list[tuple[str, str]] = field(default_factory=list)
    _watches: list[_Watch] = field(default_factory=list)
    _concurrency: int | None = None

    def reconciles(self, target: type[Resource] | tuple[str, str]) -> ControllerBuilder:
        self._for = _kind_of(target)
        return self

    def owns(self, api_version: str, kind: str) -> ControllerBuilder:
        """Events on objects whose controller owner is of the reconciled kind enqueue that owner."""
        self._owns.append((api_version, kind))
        return self

    def watches(self, api_version: str, kind: str, to_requests: MapFunc) -> ControllerBuilder:
        self._watches.append(_Watch(api_version, kind, to_requests))
        return self

    def with_concurrency(self, workers: int) -> ControllerBuilder:
        self._concurrency = workers
        return self

    async def complete(self, reconciler: Reconciler) -> Controller:
        if self._for is None:
            raise ValueError(f"controller {self.name}: reconciles() was not called")
        api_version, kind = self._for
        group = api_version.rpartition("/")[0]
        controller = Controller(self.name, kind, group, reconciler,
                                concurrency=self._concurrency or self.manager.options.concurrency,
                                metrics=self.manager.metrics)
        cache = self.manager.cache
        primary = await cache.informer(api_version, kind)
        _connect(primary, controller, lambda obj: [request_for(obj)])
        controller.resync_source = lambda: [request_for(obj) for obj in primary.objects()]
        for owned_version, owned_kind in self._owns:
            owned = await cache.informer(owned_version, owned_kind)
            if "owner-uid" not in owned._index_funcs:
                owned.add_index("owner-uid", owner_uid_index)
            _connect(owned, controller, _controller_owner(api_version, kind, primary.resource.namespaced))
        for watch in self._watches:
            _connect(await cache.informer(watch.api_version, watch.kind), controller, watch.to_requests)
        self.manager.add_controller(controller)
        return controller


def _controller_owner(api_version: str, kind: str, owner_namespaced: bool) -> MapFunc:
    group = api_version.rpartition("/")[0]

    def owners(obj: dict[str, Any]) -> list[Request]:
        # An owner shares its dependent's namespace, unless it is cluster-scoped (controller-runtime's rule).
        namespace = (obj["metadata"].get("namespace") or "") if owner_namespaced else ""
        return [
            Request(namespace, ref["name"])
            for ref in obj["metadata"].get("ownerReferences") or ()
            if ref.get("controller") and ref.get("kind") == kind
            and ref.get("apiVersion", "").rpartition("/")[0] == group
        ]

    return owners


def _connect(informer: Informer, controller: Controller, to_requests: MapFunc) -> None:
    def enqueue(obj: dict[str, Any]) -> None:
        for request in to_requests(obj):
            controller.enqueue(request)

    def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
        # A re-list delivers unchanged objects as updates; only real changes (or owner changes) matter.
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        enqueue(new)
        if old["metadata"].get("ownerReferences") != new["metadata"].get("ownerReferences"):
            enqueue(old)

    informer.add_handler(EventHandler(on_add=enqueue, on_update=on_update, on_delete=enqueue))
