"""Informers: a local copy of one kind, kept current by list-then-watch, with indexes and event handlers.

Semantics follow client-go's reflector: watch from the list's resourceVersion with bookmarks, re-list on
410 Gone (emitting the differences, so no change is lost), reconnect with jittered backoff on errors.
"""

from __future__ import annotations

import asyncio
import builtins
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ._restmapper import ResourceInfo
from ._transport import APIError, ConnectionFailed, Transport

log = structlog.get_logger("k0smotron.runtime.cache")

ObjectKey = tuple[str, str]
Transform = Callable[[dict[str, Any]], dict[str, Any]]
IndexFunc = Callable[[dict[str, Any]], list[str]]


@dataclass
class EventHandler:
    on_add: Callable[[dict[str, Any]], None]
    on_update: Callable[[dict[str, Any], dict[str, Any]], None]
    on_delete: Callable[[dict[str, Any]], None]


def key_of(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The default transform: managedFields are large and no controller here reads them."""
    meta = obj.get("metadata") or {}
    if "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


@dataclass
class InformerOptions:
    namespace: str | None = None
    label_selector: str = ""
    field_selector: str = ""
    transform: Transform | None = strip_managed_fields
    backoff_initial_s: float = 0.8
    backoff_max_s: float = 30.0


@dataclass
class Informer:
    transport: Transport
    resource: ResourceInfo
    options: InformerOptions = field(default_factory=InformerOptions)

    def __post_init__(self) -> None:
        self._store: dict[ObjectKey, dict[str, Any]] = {}
        self._handlers: list[EventHandler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self._task: asyncio.Task[None] | None = None

    # --- reading -----------------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._store.get((namespace if self.resource.namespaced else "", name))

    def objects(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None or not self.resource.namespaced:
            return list(self._store.values())
        return [obj for key, obj in self._store.items() if key[0] == namespace]

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        return [self._store[k] for k in self._indexes.get(index, {}).get(value, ()) if k in self._store]

    def __len__(self) -> int:
        return len(self._store)

    # --- configuration -----------------------------------------------------------------------------------

    def add_handler(self, handler: EventHandler) -> None:
        """Register a handler; it is told about every object already known, as client-go does."""
        self._handlers.append(handler)
        for obj in list(self._store.values()):
            handler.on_add(obj)

    def add_index(self, name: str, func: IndexFunc) -> None:
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self._store.items():
            self._index(key, None, obj)

    # --- running -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"informer-{self.resource.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        delay = self.options.backoff_initial_s
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                await self._watch()
                delay = self.options.backoff_initial_s
            except APIError as error:
                if error.gone:
                    need_list = True
                    continue
                log.warning("watch failed", resource=self.resource.plural, status=error.status, reason=error.reason)
                need_list = True
            except ConnectionFailed as error:
                log.warning("API server unreachable", resource=self.resource.plural, error=str(error))
            else:
                continue
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, self.options.backoff_max_s)

    def _query(self) -> dict[str, str]:
        query: dict[str, str] = {}
        if self.options.label_selector:
            query["labelSelector"] = self.options.label_selector
        if self.options.field_selector:
            query["fieldSelector"] = self.options.field_selector
        return query

    async def _list_and_replace(self) -> None:
        items: builtins.list[dict[str, Any]] = []
        query = {**self._query(), "limit": "500"}
        while True:
            page = await self.transport.request("GET", self.resource.collection_path(self.options.namespace),
                                                query=query)
            items.extend(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            query = {**query, "continue": token}
        list_version = (page.get("metadata") or {}).get("resourceVersion", "")
        self._replace(items)
        self.resource_version = list_version
        self.relists += 1
        self.synced.set()

    def _replace(self, items: builtins.list[dict[str, Any]]) -> None:
        """Make the store equal to a fresh list, telling handlers what changed while we were not watching."""
        fresh = {}
        for item in items:
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
            obj = self._transform(item)
            fresh[key_of(obj)] = obj
        for key in [k for k in self._store if k not in fresh]:
            self._delete(self._store[key])
        for key, obj in fresh.items():
            old = self._store.get(key)
            if old is None:
                self._add(obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._update(old, obj)

    async def _watch(self) -> None:
        query = {**self._query(), "resourceVersion": self.resource_version, "allowWatchBookmarks": "true"}
        async for event in self.transport.watch(self.resource.collection_path(self.options.namespace), query):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                status = obj
                raise APIError(int(status.get("code", 500)), status.get("reason", ""), status.get("message", ""),
                               status)
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                self.resource_version = version or self.resource_version
                continue
            obj = self._transform(obj)
            key = key_of(obj)
            if kind == "ADDED" or kind == "MODIFIED":
                old = self._store.get(key)
                if old is None:
                    self._add(obj)
                else:
                    self._update(old, obj)
            elif kind == "DELETED":
                self._delete(self._store.get(key, obj))
            if version:
                self.resource_version = version

    def _transform(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.options.transform(obj) if self.options.transform is not None else obj

    # --- store changes -----------------------------------------------------------------------------------

    def _add(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        self._store[key] = obj
        self._index(key, None, obj)
        for handler in self._handlers:
            handler.on_add(obj)

    def _update(self, old: dict[str, Any], obj: dict[str, Any]) -> None:
        key = key_of(obj)
        self._store[key] = obj
        self._index(key, old, obj)
        for handler in self._handlers:
            handler.on_update(old, obj)

    def _delete(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        old = self._store.pop(key, None)
        self._index(key, old, None)
        for handler in self._handlers:
            handler.on_delete(obj)

    def _index(self, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for name, func in self._index_funcs.items():
            index = self._indexes[name]
            for value in func(old) if old is not None else ():
                index.get(value, set()).discard(key)
            for value in func(new) if new is not None else ():
                index.setdefault(value, set()).add(key)


def owner_uid_index(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if ref.get("uid")]


def label_index(label: str) -> IndexFunc:
    def index(obj: dict[str, Any]) -> list[str]:
        value = (obj["metadata"].get("labels") or {}).get(label)
        return [value] if value is not None else []

    return index


def field_index(*path: str) -> IndexFunc:
    def index(obj: dict[str, Any]) -> list[str]:
        node: Any = obj
        for part in path:
            if not isinstance(node, dict):
                return []
            node = node.get(part)
        return [str(node)] if node is not None else []

    return index
