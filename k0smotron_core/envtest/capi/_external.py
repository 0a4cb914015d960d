"""Provider objects referenced by core objects: resolving references, fetching them, watching their kinds.

Core cannot know provider kinds in advance, so (like CAPI's `external.ObjectTracker`) a controller starts watching
a kind the first time one of its objects references it; events on those objects then reconcile their owners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...runtime import APIError, Controller, EventHandler, Manager, NoKindMatch, Request
from ._objects import CLUSTER_NAME_LABEL, Obj, nested, owner_reference

MapFunc = Callable[[Obj], list[Request]]

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CONTRACT_LABELS = ("cluster.x-k8s.io/v1beta2", "cluster.x-k8s.io/v1beta1")


class MissingKind(Exception):
    """A reference names a kind the API server does not serve (its CRD is not installed)."""


def _version_key(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by numbers (v1 > v1beta2 > v1beta1 > v1alpha1)."""
    rest = version.removeprefix("v")
    for stage, rank in (("alpha", 0), ("beta", 1)):
        if stage in rest:
            major, _, minor = rest.partition(stage)
            return (rank, int(major or 0), int(minor or 0))
    return (2, int(rest) if rest.isdigit() else 0, 0)


class ExternalObjects:
    """Fetches referenced provider objects for one controller and makes events on them reconcile its objects."""

    def __init__(self, manager: Manager, to_requests: MapFunc) -> None:
        self._manager = manager
        self._to_requests = to_requests
        self.controller: Controller | None = None
        self._watched: set[tuple[str, str]] = set()
        self._contract_versions: dict[tuple[str, str], str] = {}

    async def api_version(self, ref: Obj) -> str:
        """A reference's apiVersion: as written (v1beta1 refs), or from the CRD's contract labels (v1beta2 refs)."""
        if ref.get("apiVersion"):
            return str(ref["apiVersion"])
        group, kind = ref.get("apiGroup") or "", ref["kind"]
        known = self._contract_versions.get((group, kind))
        if known is not None:
            return known
        for crd in await self._manager.client.list(CRD_API_VERSION, "CustomResourceDefinition"):
            if nested(crd, "spec", "group") != group or nested(crd, "spec", "names", "kind") != kind:
                continue
            labels = nested(crd, "metadata", "labels") or {}
            for label in CONTRACT_LABELS:
                if labels.get(label):
                    version = sorted(labels[label].split("_"), key=_version_key)[-1]
                    self._contract_versions[(group, kind)] = f"{group}/{version}"
                    return f"{group}/{version}"
        raise MissingKind(f"no CRD with a contract label for {kind}.{group}")

    async def watch(self, api_version: str, kind: str) -> None:
        if (api_version, kind) in self._watched:
            return
        try:
            informer = await self._manager.cache.informer(api_version, kind)
        except NoKindMatch as error:
            raise MissingKind(str(error)) from error
        self._watched.add((api_version, kind))
        informer.add_handler(EventHandler(on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
                                          on_delete=self._enqueue))

    def _enqueue(self, obj: Obj) -> None:
        if self.controller is None:
            return
        for request in self._to_requests(obj):
            self.controller.enqueue(request)

    async def get(self, ref: Obj, namespace: str) -> Obj | None:
        """The referenced object (watching its kind from now on), None when it does not exist."""
        api_version = await self.api_version(ref)
        await self.watch(api_version, ref["kind"])
        # Read past the cache: a freshly started informer may not have synced yet, and status copies must be current.
        return await self._manager.client.get_live(api_version, ref["kind"], ref["name"], namespace)

    async def delete(self, ref: Obj, namespace: str) -> bool:
        """Ask for deletion; True while the object still exists."""
        api_version = await self.api_version(ref)
        obj = await self.get(ref, namespace)
        if obj is None:
            return False
        if not nested(obj, "metadata", "deletionTimestamp"):
            try:
                await self._manager.client.delete(api_version, ref["kind"], ref["name"], namespace)
            except APIError as error:
                if not error.not_found:
                    raise
                return False
        return True


def owners_of_kind(kind: str) -> MapFunc:
    """Objects → the requests of their owners of that (core) kind."""

    def requests(obj: Obj) -> list[Request]:
        namespace = nested(obj, "metadata", "namespace") or ""
        return [Request(namespace, ref["name"]) for ref in nested(obj, "metadata", "ownerReferences") or ()
                if ref.get("kind") == kind and str(ref.get("apiVersion", "")).startswith("cluster.x-k8s.io/")]

    return requests


def owner_patch(obj: Obj, owner_ref: Obj, *, drop_uids: tuple[str, ...] = (), cluster_name: str = "") -> Obj | None:
    """The merge patch that makes `owner_ref` an owner of obj (and labels it with its cluster), None if nothing to do.

    `drop_uids`: owners to let go of (the Machine takes over its config from the MachineSet or control plane that
    created it). A new controller owner replaces any other controller owner.
    """
    refs: list[Any] = list(nested(obj, "metadata", "ownerReferences") or ())
    wanted = [r for r in refs if r == owner_ref or (
        r.get("uid") != owner_ref["uid"] and r.get("uid") not in drop_uids
        and not (owner_ref.get("controller") and r.get("controller")))]
    if owner_ref not in wanted:
        wanted.append(owner_ref)
    patch: Obj = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}}
    if wanted != refs:
        patch["metadata"]["ownerReferences"] = wanted
    labels = nested(obj, "metadata", "labels") or {}
    if cluster_name and labels.get(CLUSTER_NAME_LABEL) != cluster_name:
        patch["metadata"]["labels"] = {CLUSTER_NAME_LABEL: cluster_name}
    return patch if len(patch["metadata"]) > 1 else None


async def adopt(manager: Manager, api_version: str, obj: Obj, owner: Obj, *, controller: bool,
                cluster_name: str, drop_uids: tuple[str, ...] = ()) -> None:
    """Make `owner` an owner of obj and label obj with its cluster, as core does with the objects it references."""
    patch = owner_patch(obj, owner_reference(owner, controller=controller), drop_uids=drop_uids,
                        cluster_name=cluster_name)
    if patch is not None:
        meta = obj["metadata"]
        await manager.client.patch(api_version, obj["kind"], meta["name"], meta.get("namespace") or "", patch)
