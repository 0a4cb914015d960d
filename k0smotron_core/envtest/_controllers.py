"""The control loops a real control plane runs beside the API server, which clients rely on:
garbage collection by ownerReferences, namespace termination, and CRD establishment and cleanup.

They react to store events, asynchronously, like the real controllers do.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from ._errors import StatusError
from ._registry import GroupResource, ResourceType
from ._storage import (
    CRD_CLEANUP_FINALIZER,
    FINALIZER_FOREGROUND,
    FINALIZER_ORPHAN,
    DeleteOptions,
    RequestContext,
    ResourceStorage,
    now_rfc3339,
)
from ._store import WatchEvent

_CRDS: GroupResource = ("apiextensions.k8s.io", "customresourcedefinitions")
_NAMESPACES: GroupResource = ("", "namespaces")
_GC_CONTEXT = RequestContext(user="system:serviceaccount:kube-system:generic-garbage-collector")
_NAMESPACE_CONTEXT = RequestContext(user="system:serviceaccount:kube-system:namespace-controller")


class Controllers:
    def __init__(self, storage: ResourceStorage) -> None:
        self._storage = storage
        self._store = storage.store
        self._pending: dict[tuple[str, GroupResource, str, str], None] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._store.add_listener(self._on_event)
        storage.after_write.append(self._establish_crd)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="envtest-controllers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def settle(self) -> None:
        """Wait until there is nothing left to do (tests use this to observe the final state)."""
        await self._idle.wait()

    # --- event intake ------------------------------------------------------------------------------------

    def _enqueue(self, what: str, gr: GroupResource, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self._pending[(what, gr, meta.get("namespace") or "", meta["name"])] = None
        self._idle.clear()
        self._wake.set()

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        meta = obj["metadata"]
        if event.type == "DELETED":
            for gr, dependent in self._store.dependents_of(meta["uid"]):
                self._enqueue("owners", gr, dependent)
            for owner_ref in meta.get("ownerReferences") or ():
                located = self._store.by_uid(owner_ref.get("uid", ""))
                if located is not None:
                    self._enqueue("owner", located[0], located[1])
            namespace = meta.get("namespace")
            if namespace:
                ns = self._store.get(_NAMESPACES, "", namespace)
                if ns is not None and ns["metadata"].get("deletionTimestamp"):
                    self._enqueue("namespace", _NAMESPACES, ns)
            self._enqueue_crd_of(event.group_resource)
            if event.group_resource == _CRDS:
                self._storage.registry.unregister_crd(meta["name"])
            return
        if meta.get("ownerReferences"):
            self._enqueue("owners", event.group_resource, obj)
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or ()
            if FINALIZER_ORPHAN in finalizers or FINALIZER_FOREGROUND in finalizers:
                self._enqueue("owner", event.group_resource, obj)
            if event.group_resource == _NAMESPACES:
                self._enqueue("namespace", _NAMESPACES, obj)
            if event.group_resource == _CRDS:
                self._enqueue("crd", _CRDS, obj)

    def _enqueue_crd_of(self, gr: GroupResource) -> None:
        for crd in self._store.objects(_CRDS):
            terminating = crd["metadata"].get("deletionTimestamp")
            if terminating and (crd["spec"]["group"], crd["spec"]["names"]["plural"]) == gr:
                self._enqueue("crd", _CRDS, crd)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                del self._pending[key]
                what, gr, namespace, name = key
                obj = self._store.get(gr, namespace, name)
                if obj is not None:
                    try:
                        self._handle(what, gr, obj)
                    except StatusError:
                        # Lost a race with a client (object changed or went away); a later event brings it back.
                        pass
                await asyncio.sleep(0)
            self._idle.set()

    def _handle(self, what: str, gr: GroupResource, obj: dict[str, Any]) -> None:
        if what == "owners":
            self._collect_if_orphaned(gr, obj)
        elif what == "owner":
            self._finish_owner_deletion(gr, obj)
        elif what == "namespace":
            self._terminate_namespace(obj)
        elif what == "crd":
            self._clean_up_crd(obj)

    def _type_of(self, gr: GroupResource) -> ResourceType | None:
        return self._storage.registry.storage_type(*gr)

    # --- garbage collection ------------------------------------------------------------------------------

    def _collect_if_orphaned(self, gr: GroupResource, obj: dict[str, Any]) -> None:
        """Delete an object whose owners are all gone; drop references to owners that are gone."""
        rt = self._type_of(gr)
        if rt is None:
            return
        refs = obj["metadata"].get("ownerReferences") or []
        alive = []
        foreground_owner = False
        for ref in refs:
            located = self._store.by_uid(ref.get("uid", ""))
            if located is None:
                continue
            owner = located[1]
            owner_ns = owner["metadata"].get("namespace") or ""
            if owner_ns and owner_ns != (obj["metadata"].get("namespace") or ""):
                continue
            alive.append(ref)
            owner_meta = owner["metadata"]
            if owner_meta.get("deletionTimestamp") and FINALIZER_FOREGROUND in (owner_meta.get("finalizers") or ()):
                foreground_owner = True
        if alive and len(alive) == len(refs):
            if foreground_owner and all(self._owner_deleting_in_foreground(ref) for ref in alive):
                self._delete(rt, obj, "Foreground")
            return
        if not alive:
            self._delete(rt, obj, "Background")
            return
        updated = copy.deepcopy(obj)
        updated["metadata"]["ownerReferences"] = alive
        self._storage.replace_internal(rt, obj, updated)

    def _owner_deleting_in_foreground(self, ref: dict[str, Any]) -> bool:
        located = self._store.by_uid(ref.get("uid", ""))
        if located is None:
            return True
        meta = located[1]["metadata"]
        return bool(meta.get("deletionTimestamp")) and FINALIZER_FOREGROUND in (meta.get("finalizers") or ())

    def _delete(self, rt: ResourceType, obj: dict[str, Any], policy: str) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        self._storage.delete(
            rt, meta.get("namespace") or "", meta["name"],
            DeleteOptions(propagation_policy=policy, preconditions_uid=meta["uid"]), _GC_CONTEXT,
        )

    def _finish_owner_deletion(self, gr: GroupResource, owner: dict[str, Any]) -> None:
        rt = self._type_of(gr)
        meta = owner["metadata"]
        if rt is None or not meta.get("deletionTimestamp"):
            return
        finalizers = meta.get("finalizers") or ()
        dependents = self._store.dependents_of(meta["uid"])
        if FINALIZER_ORPHAN in finalizers:
            for dep_gr, dependent in dependents:
                dep_rt = self._type_of(dep_gr)
                if dep_rt is None:
                    continue
                updated = copy.deepcopy(dependent)
                refs = [r for r in updated["metadata"].get("ownerReferences") or () if r.get("uid") != meta["uid"]]
                if refs:
                    updated["metadata"]["ownerReferences"] = refs
                else:
                    updated["metadata"].pop("ownerReferences", None)
                self._storage.replace_internal(dep_rt, dependent, updated)
            self._storage.remove_finalizer(rt, owner, FINALIZER_ORPHAN)
            return
        if FINALIZER_FOREGROUND in finalizers:
            blocking = False
            for dep_gr, dependent in dependents:
                dep_rt = self._type_of(dep_gr)
                if dep_rt is None:
                    continue
                ref = next(r for r in dependent["metadata"]["ownerReferences"] if r.get("uid") == meta["uid"])
                if ref.get("blockOwnerDeletion"):
                    blocking = True
                self._collect_if_orphaned(dep_gr, dependent)
            if not blocking:
                self._storage.remove_finalizer(rt, owner, FINALIZER_FOREGROUND)

    # --- namespaces --------------------------------------------------------------------------------------

    def _terminate_namespace(self, ns: dict[str, Any]) -> None:
        name = ns["metadata"]["name"]
        for gr in self._store.group_resources():
            rt = self._type_of(gr)
            if rt is None or not rt.namespaced:
                continue
            for obj in self._store.objects(gr, name):
                if not obj["metadata"].get("deletionTimestamp"):
                    self._storage.delete(rt, name, obj["metadata"]["name"], DeleteOptions(), _NAMESPACE_CONTEXT)
        instances: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for gr in self._store.group_resources():
            for obj in self._store.objects(gr, name):
                resource = f"{gr[1]}.{gr[0]}" if gr[0] else gr[1]
                instances[resource] = instances.get(resource, 0) + 1
                for finalizer in obj["metadata"].get("finalizers") or ():
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        if not instances:
            self._finalize_namespace(ns)
            return
        self._report_namespace_progress(ns, instances, finalizers)

    def _report_namespace_progress(self, ns: dict[str, Any], instances: dict[str, int],
                                   finalizers: dict[str, int]) -> None:
        """The conditions the namespace controller reports while content remains."""
        rt = self._type_of(_NAMESPACES)
        current = self._store.get(_NAMESPACES, "", ns["metadata"]["name"])
        if rt is None or current is None:
            return
        status = copy.deepcopy(current.get("status") or {})
        conditions = {c["type"]: c for c in status.get("conditions") or ()}
        now = now_rfc3339()
        _set_condition(conditions, "NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
                       "All resources successfully discovered", now)
        _set_condition(conditions, "NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                       "All legacy kube types successfully parsed", now)
        _set_condition(conditions, "NamespaceDeletionContentFailure", "False", "ContentDeleted",
                       "All content successfully deleted, may be waiting on finalization", now)
        _set_condition(conditions, "NamespaceContentRemaining", "True", "SomeResourcesRemain",
                       "Some resources are remaining: " + ", ".join(
                           f"{r} has {n} resource instances" for r, n in sorted(instances.items())), now)
        if finalizers:
            _set_condition(conditions, "NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
                           "Some content in the namespace has finalizers remaining: " + ", ".join(
                               f"{f} in {n} resource instances" for f, n in sorted(finalizers.items())), now)
        else:
            _set_condition(conditions, "NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                           "All content-preserving finalizers finished", now)
        status["conditions"] = list(conditions.values())
        if status != current.get("status"):
            updated = copy.deepcopy(current)
            updated["status"] = status
            self._storage.replace_internal(rt, current, updated)

    def _finalize_namespace(self, ns: dict[str, Any]) -> None:
        rt = self._type_of(_NAMESPACES)
        assert rt is not None
        current = self._store.get(_NAMESPACES, "", ns["metadata"]["name"])
        if current is None:
            return
        updated = copy.deepcopy(current)
        spec_finalizers = [f for f in (updated.get("spec") or {}).get("finalizers") or () if f != "kubernetes"]
        updated.setdefault("spec", {})["finalizers"] = spec_finalizers
        if not spec_finalizers and not updated["metadata"].get("finalizers"):
            self._storage._stamp(updated)
            self._store.remove(_NAMESPACES, updated)
            return
        self._storage.replace_internal(rt, current, updated)

    # --- CRDs --------------------------------------------------------------------------------------------

    def _establish_crd(self, rt: ResourceType, old: dict[str, Any] | None, crd: dict[str, Any]) -> None:
        """Register a CRD's resources and report NamesAccepted/Established, as the apiextensions controllers do."""
        if (rt.group, rt.plural) != _CRDS or crd["metadata"].get("deletionTimestamp"):
            return
        conflict = self._storage.registry.conflicting_names(crd)
        status = copy.deepcopy(crd.get("status") or {})
        conditions = {c["type"]: c for c in status.get("conditions") or ()}
        now = crd["metadata"]["creationTimestamp"] if old is None else now_rfc3339()
        if conflict is None:
            self._storage.registry.register_crd(crd)
            status["acceptedNames"] = _accepted_names(crd)
            _set_condition(conditions, "NamesAccepted", "True", "NoConflicts", "no conflicts found", now)
            _set_condition(conditions, "Established", "True", "InitialNamesAccepted",
                           "the initial names have been accepted", now)
            storage_version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
            stored = list(status.get("storedVersions") or [])
            if storage_version not in stored:
                stored.append(storage_version)
            status["storedVersions"] = stored
        else:
            status.setdefault("acceptedNames", {"kind": "", "plural": ""})
            _set_condition(conditions, "NamesAccepted", "False", conflict[0], conflict[1], now)
            _set_condition(conditions, "Established", "False", "NotAccepted", "not all names are accepted", now)
        status["conditions"] = list(conditions.values())
        if status != crd.get("status"):
            updated = copy.deepcopy(crd)
            updated["status"] = status
            self._storage.replace_internal(rt, crd, updated)

    def _clean_up_crd(self, crd: dict[str, Any]) -> None:
        """Delete every custom resource of a terminating CRD, then release it."""
        crd_type = self._type_of(_CRDS)
        assert crd_type is not None
        gr = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        rt = self._type_of(gr)
        if rt is not None:
            for obj in self._store.objects(gr):
                if not obj["metadata"].get("deletionTimestamp"):
                    self._storage.delete(rt, obj["metadata"].get("namespace") or "", obj["metadata"]["name"],
                                         DeleteOptions(), _GC_CONTEXT)
        if self._store.count(gr) == 0:
            self._storage.remove_finalizer(crd_type, crd, CRD_CLEANUP_FINALIZER)


def _accepted_names(crd: dict[str, Any]) -> dict[str, Any]:
    names = crd["spec"]["names"]
    accepted = {k: names[k] for k in ("plural", "singular", "kind", "listKind", "shortNames", "categories")
                if names.get(k)}
    return accepted


def _set_condition(
    conditions: dict[str, dict[str, Any]], type_: str, status: str, reason: str, message: str, now: str
) -> None:
    existing = conditions.get(type_)
    if existing and existing["status"] == status and existing.get("reason") == reason:
        if existing.get("message") != message:
            conditions[type_] = {**existing, "message": message}
        return
    conditions[type_] = {"type": type_, "status": status, "lastTransitionTime": now, "reason": reason,
                         "message": message}
