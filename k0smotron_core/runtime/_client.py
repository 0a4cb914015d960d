"""The cache every controller of a manager shares, and the client that reads from it and writes to the server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..api._base import Resource
from ._cache import Informer, InformerOptions, Transform, strip_managed_fields
from ._restmapper import ResourceInfo, RESTMapper
from ._transport import APIError, Transport

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

Object = dict[str, Any] | Resource


@dataclass(frozen=True)
class CacheSelector:
    """A restriction of what one kind's informer holds (e.g. only Secrets with the cluster-name label)."""

    label_selector: str = ""
    field_selector: str = ""


@dataclass
class CacheOptions:
    namespace: str | None = None
    """Cache (and so reconcile) only objects of this namespace; cluster-scoped kinds are unaffected."""
    label_selector: str = ""
    """Applied to every cached kind (the `--watch-filter` label)."""
    by_kind: dict[tuple[str, str], CacheSelector] = field(default_factory=dict)
    """Extra per-kind restrictions, keyed by (apiVersion, kind)."""
    transform: Transform | None = strip_managed_fields


class Cache:
    """One informer per kind, created on first use and started with the manager."""

    def __init__(self, transport: Transport, mapper: RESTMapper, options: CacheOptions | None = None) -> None:
        self._transport = transport
        self._mapper = mapper
        self.options = options or CacheOptions()
        self._informers: dict[tuple[str, str], Informer] = {}
        self._started = False

    async def informer(self, api_version: str, kind: str) -> Informer:
        existing = self._informers.get((api_version, kind))
        if existing is not None:
            return existing
        resource = await self._mapper.resource_for(api_version, kind)
        selector = self.options.by_kind.get((api_version, kind), CacheSelector())
        labels = ",".join(s for s in (self.options.label_selector, selector.label_selector) if s)
        informer = Informer(self._transport, resource, InformerOptions(
            namespace=self.options.namespace if resource.namespaced else None,
            label_selector=labels,
            field_selector=selector.field_selector,
            transform=self.options.transform,
        ))
        self._informers[(api_version, kind)] = informer
        if self._started:
            informer.start()
        return informer

    def cached(self, api_version: str, kind: str) -> Informer | None:
        return self._informers.get((api_version, kind))

    def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in self._informers.values()))

    @property
    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self._informers.values())

    async def stop(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
        self._started = False


def as_dict(obj: Object) -> dict[str, Any]:
    return obj.to_dict() if isinstance(obj, Resource) else obj


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"]


class Client:
    """Reads come from the cache when the kind is cached (and synced), else from the server; writes go to the server.

    Objects are dicts in wire form; typed models (`k0smotron_core.api`) are accepted wherever an object is.
    """

    def __init__(self, transport: Transport, mapper: RESTMapper, cache: Cache, *, field_manager: str) -> None:
        self.transport = transport
        self.mapper = mapper
        self.cache = cache
        self.field_manager = field_manager

    async def _resource(self, api_version: str, kind: str) -> ResourceInfo:
        return await self.mapper.resource_for(api_version, kind)

    # --- reads -------------------------------------------------------------------------------------------

    async def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        informer = self.cache.cached(api_version, kind)
        if informer is not None and informer.synced.is_set():
            return informer.get(namespace, name)
        return await self.get_live(api_version, kind, name, namespace)

    async def get_live(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        """Read past the cache (for kinds that are deliberately not cached, or read-after-write)."""
        resource = await self._resource(api_version, kind)
        try:
            return await self.transport.request("GET", resource.object_path(namespace, name))
        except APIError as error:
            if error.not_found:
                return None
            raise

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        informer = self.cache.cached(api_version, kind)
        if informer is not None and informer.synced.is_set():
            items = informer.objects(namespace)
        else:
            resource = await self._resource(api_version, kind)
            query = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
            items = (await self.transport.request("GET", resource.collection_path(namespace), query=query))["items"]
            for item in items:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
            return list(items)
        if labels:
            items = [o for o in items
                     if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]
        return items

    # --- writes ------------------------------------------------------------------------------------------

    def _write_query(self) -> dict[str, str]:
        return {"fieldManager": self.field_manager}

    async def create(self, obj: Object) -> dict[str, Any]:
        body = as_dict(obj)
        api_version, kind, namespace, _ = _identity(body) if body["metadata"].get("name") else (
            body["apiVersion"], body["kind"], body["metadata"].get("namespace") or "", "")
        resource = await self._resource(api_version, kind)
        return await self.transport.request("POST", resource.collection_path(namespace), body=body,
                                            query=self._write_query())

    async def update(self, obj: Object, *, subresource: str = "") -> dict[str, Any]:
        body = as_dict(obj)
        api_version, kind, namespace, name = _identity(body)
        resource = await self._resource(api_version, kind)
        return await self.transport.request("PUT", resource.object_path(namespace, name, subresource), body=body,
                                            query=self._write_query())

    async def update_status(self, obj: Object) -> dict[str, Any]:
        return await self.update(obj, subresource="status")

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str,
        patch: Any,
        *,
        patch_type: str = MERGE_PATCH,
        subresource: str = "",
    ) -> dict[str, Any]:
        resource = await self._resource(api_version, kind)
        return await self.transport.request("PATCH", resource.object_path(namespace, name, subresource), body=patch,
                                            content_type=patch_type, query=self._write_query())

    async def apply(self, obj: Object, *, subresource: str = "", force: bool = True,
                    field_manager: str | None = None) -> dict[str, Any]:
        """Server-side apply of the fields this manager owns (controllers force: they are the owners).
        `field_manager` overrides the binary's own, where a field owner name is part of the wire contract."""
        body = as_dict(obj)
        api_version, kind, namespace, name = _identity(body)
        resource = await self._resource(api_version, kind)
        query = {"fieldManager": field_manager or self.field_manager, "force": "true" if force else "false"}
        return await self.transport.request("PATCH", resource.object_path(namespace, name, subresource), body=body,
                                            content_type=APPLY_PATCH, query=query)

    async def delete(
        self, api_version: str, kind: str, name: str, namespace: str = "", *, propagation_policy: str | None = None
    ) -> bool:
        """Delete; False when it was already gone."""
        resource = await self._resource(api_version, kind)
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        try:
            await self.transport.request("DELETE", resource.object_path(namespace, name), body=body)
        except APIError as error:
            if error.not_found:
                return False
            raise
        return True
