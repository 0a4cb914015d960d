"""Object storage with one global resourceVersion, a bounded event history, and watch fan-out.

Stored objects are snapshots: they are never mutated after they are stored, so readers may hold references
without copying. Writers build a new dict and `put` it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._errors import StatusError, gone
from ._registry import GroupResource

ObjectKey = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""

Predicate = Callable[[dict[str, Any]], bool]

_WATCHER_QUEUE_LIMIT = 100_000


@dataclass(frozen=True)
class WatchEvent:
    resource_version: int
    group_resource: GroupResource
    type: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None


def key_of(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@dataclass(eq=False)
class Watcher:
    """One open watch: receives the events of one resource that pass its namespace and predicate."""

    group_resource: GroupResource
    namespace: str | None
    predicate: Predicate
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj["metadata"].get("namespace") or "") != self.namespace:
            return False
        return self.predicate(obj)

    def offer(self, event: WatchEvent) -> None:
        """Deliver an event, translated the way the watch cache does when an object enters or leaves the filter."""
        if self.closed or event.group_resource != self.group_resource:
            return
        now = self._matches(event.object)
        if event.type == "DELETED":
            if now:
                self._put(event)
            return
        before = self._matches(event.previous)
        if now and before:
            self._put(event)
        elif now:
            self._put(WatchEvent(event.resource_version, event.group_resource, "ADDED", event.object))
        elif before:
            self._put(WatchEvent(event.resource_version, event.group_resource, "DELETED", event.object))

    def _put(self, event: WatchEvent) -> None:
        if self.queue.qsize() >= _WATCHER_QUEUE_LIMIT:
            # A consumer this far behind is cut off, as the real watch cache does; it re-lists.
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class Store:
    def __init__(self, history_window: int = 10_000) -> None:
        self._resource_version = 1
        self._objects: dict[GroupResource, dict[ObjectKey, dict[str, Any]]] = {}
        self._history: deque[WatchEvent] = deque()
        self._history_window = history_window
        self._compacted_through = 0
        self._watchers: set[Watcher] = set()
        self._by_uid: dict[str, tuple[GroupResource, ObjectKey]] = {}
        self._dependents: dict[str, set[tuple[GroupResource, ObjectKey]]] = {}
        self._listeners: list[Callable[[WatchEvent], None]] = []

    @property
    def resource_version(self) -> int:
        return self._resource_version

    def next_resource_version(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def add_listener(self, listener: Callable[[WatchEvent], None]) -> None:
        """Called synchronously for every stored change (the garbage collector and controllers use this)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[WatchEvent], None]) -> None:
        """Stop calling `listener` (a controller that stops must not keep receiving, nor be kept alive)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- reads -------------------------------------------------------------------------------------------

    def get(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(gr, {}).get((namespace, name))

    def objects(self, gr: GroupResource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects in key order (namespace, then name), as etcd returns them."""
        objects = self._objects.get(gr, {})
        keys = sorted(objects) if namespace is None else sorted(k for k in objects if k[0] == namespace)
        return [objects[k] for k in keys]

    def snapshot(self, gr: GroupResource, at: int, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of a resource as they were at resourceVersion `at`, rebuilt by undoing the later history."""
        self.check_not_compacted(at)
        state = dict(self._objects.get(gr, {}))
        for event in reversed(self._history):
            if event.resource_version <= at:
                break
            if event.group_resource != gr:
                continue
            key = key_of(event.object)
            if event.type == "ADDED":
                state.pop(key, None)
            elif event.previous is not None:
                state[key] = event.previous
        keys = sorted(k for k in state if namespace is None or k[0] == namespace)
        return [state[k] for k in keys]

    def count(self, gr: GroupResource) -> int:
        return len(self._objects.get(gr, {}))

    def group_resources(self) -> list[GroupResource]:
        return [gr for gr, objs in self._objects.items() if objs]

    def by_uid(self, uid: str) -> tuple[GroupResource, dict[str, Any]] | None:
        located = self._by_uid.get(uid)
        if located is None:
            return None
        gr, key = located
        obj = self._objects.get(gr, {}).get(key)
        return (gr, obj) if obj is not None else None

    def dependents_of(self, uid: str) -> list[tuple[GroupResource, dict[str, Any]]]:
        result = []
        for gr, key in sorted(self._dependents.get(uid, ())):
            obj = self._objects.get(gr, {}).get(key)
            if obj is not None:
                result.append((gr, obj))
        return result

    # --- writes ------------------------------------------------------------------------------------------

    def put(self, gr: GroupResource, obj: dict[str, Any], *, created: bool) -> dict[str, Any]:
        """Store a new snapshot; its metadata.resourceVersion must already be the value of next_resource_version()."""
        key = key_of(obj)
        bucket = self._objects.setdefault(gr, {})
        previous = bucket.get(key)
        bucket[key] = obj
        self._index(gr, key, previous, obj)
        self._record(WatchEvent(int(obj["metadata"]["resourceVersion"]), gr, "ADDED" if created else "MODIFIED",
                                obj, previous))
        return obj

    def remove(self, gr: GroupResource, final: dict[str, Any]) -> None:
        """Remove an object; `final` is its last state, carrying the deletion's resourceVersion."""
        key = key_of(final)
        previous = self._objects.get(gr, {}).pop(key, None)
        self._index(gr, key, previous, None)
        self._record(WatchEvent(int(final["metadata"]["resourceVersion"]), gr, "DELETED", final, previous))

    def _index(
        self, gr: GroupResource, key: ObjectKey, previous: dict[str, Any] | None, current: dict[str, Any] | None
    ) -> None:
        if previous is not None:
            self._by_uid.pop(previous["metadata"].get("uid", ""), None)
            for owner_uid in _owner_uids(previous):
                dependents = self._dependents.get(owner_uid)
                if dependents is not None:
                    dependents.discard((gr, key))
                    if not dependents:
                        del self._dependents[owner_uid]
        if current is not None:
            self._by_uid[current["metadata"]["uid"]] = (gr, key)
            for owner_uid in _owner_uids(current):
                self._dependents.setdefault(owner_uid, set()).add((gr, key))

    def _record(self, event: WatchEvent) -> None:
        self._history.append(event)
        while len(self._history) > self._history_window:
            dropped = self._history.popleft()
            self._compacted_through = dropped.resource_version
        for watcher in list(self._watchers):
            watcher.offer(event)
        for listener in self._listeners:
            listener(event)

    def compact(self) -> None:
        """Forget all history, as an etcd compaction does: older resourceVersions can no longer be watched from."""
        self._history.clear()
        self._compacted_through = self._resource_version

    # --- watch -------------------------------------------------------------------------------------------

    def check_not_compacted(self, since: int) -> None:
        if since < self._compacted_through:
            raise too_old(since, self._compacted_through + 1)

    def watch(
        self,
        gr: GroupResource,
        *,
        namespace: str | None,
        predicate: Predicate,
        since: int | None,
    ) -> Watcher:
        """Open a watch. `since=None` starts with synthetic ADDED events for the current state."""
        watcher = Watcher(gr, namespace, predicate)
        if since is None:
            for obj in self.objects(gr, namespace):
                watcher.offer(WatchEvent(self._resource_version, gr, "ADDED", obj))
        else:
            self.check_not_compacted(since)
            for event in self._history:
                if event.resource_version > since:
                    watcher.offer(event)
        self._watchers.add(watcher)
        return watcher

    def stop_watch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        watcher.close()

    def drop_watches(self, group_resources: Iterable[GroupResource] | None = None) -> int:
        """Close open watches (all, or those of the given resources); returns how many were closed."""
        wanted = set(group_resources) if group_resources is not None else None
        dropped = [w for w in self._watchers if wanted is None or w.group_resource in wanted]
        for watcher in dropped:
            self.stop_watch(watcher)
        return len(dropped)

    @property
    def open_watches(self) -> int:
        return len(self._watchers)


def too_old(requested: int, oldest: int) -> StatusError:
    return gone(f"too old resource version: {requested} ({oldest})")


def _owner_uids(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if ref.get("uid")]
