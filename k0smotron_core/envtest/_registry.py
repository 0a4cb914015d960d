"""Which resources the server serves: the built-in kinds and those registered by CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

GroupResource = tuple[str, str]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: frozenset[str] = frozenset()
    schema: dict[str, Any] | None = None
    """The CRD version's openAPIV3Schema; built-in kinds are stored without a schema."""
    printer_columns: tuple[dict[str, Any], ...] = ()
    scale: dict[str, Any] | None = None
    """specReplicasPath, statusReplicasPath and labelSelectorPath of the scale subresource."""
    storage_version: str = ""
    custom: bool = False
    has_generation: bool = True
    """Whether metadata.generation is maintained (strategies of configmaps, secrets and the like don't)."""
    ignore_status_on_write: bool = field(default=False)
    """Whether the main endpoint ignores status: true whenever a status subresource exists."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> GroupResource:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _builtin(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    *,
    short: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    generation: bool = False,
    categories: tuple[str, ...] = (),
    columns: tuple[dict[str, Any], ...] = (),
    scale: dict[str, Any] | None = None,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        subresources=frozenset(subresources),
        storage_version=version,
        has_generation=generation,
        printer_columns=columns,
        scale=scale,
        ignore_status_on_write="status" in subresources,
    )


def _column(name: str, json_path: str, type_: str = "string", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": json_path, "priority": priority}


_AGE = _column("Age", ".metadata.creationTimestamp", "date")
_APPS_SCALE = {
    "specReplicasPath": ".spec.replicas",
    "statusReplicasPath": ".status.replicas",
    "labelSelectorPath": ".spec.selector",
}

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "Namespace", "namespaces", False, short=("ns",), subresources=("status", "finalize"),
             columns=(_column("Status", ".status.phase"), _AGE)),
    _builtin("", "v1", "Secret", "secrets", columns=(_column("Type", ".type"), _AGE)),
    _builtin("", "v1", "ConfigMap", "configmaps", short=("cm",), columns=(_AGE,)),
    _builtin("", "v1", "Service", "services", short=("svc",), subresources=("status",), categories=("all",),
             columns=(_column("Type", ".spec.type"), _column("Cluster-IP", ".spec.clusterIP"), _AGE)),
    _builtin("", "v1", "Endpoints", "endpoints", short=("ep",), columns=(_AGE,)),
    _builtin("", "v1", "Pod", "pods", short=("po",), subresources=("status",), categories=("all",),
             columns=(_column("Status", ".status.phase"), _column("Node", ".spec.nodeName", priority=1), _AGE)),
    _builtin("", "v1", "Node", "nodes", False, short=("no",), subresources=("status",),
             columns=(_column("Version", ".status.nodeInfo.kubeletVersion"), _AGE)),
    _builtin("", "v1", "Event", "events", short=("ev",),
             columns=(_column("Type", ".type"), _column("Reason", ".reason"), _column("Message", ".message"))),
    _builtin("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), columns=(_AGE,)),
    _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), subresources=("status",),
             columns=(_column("Status", ".status.phase"), _column("Volume", ".spec.volumeName"), _AGE)),
    _builtin("", "v1", "PersistentVolume", "persistentvolumes", False, short=("pv",), subresources=("status",),
             columns=(_column("Status", ".status.phase"), _AGE)),
    _builtin("apps", "v1", "Deployment", "deployments", short=("deploy",), subresources=("status", "scale"),
             generation=True, categories=("all",), scale=_APPS_SCALE,
             columns=(_column("Ready", ".status.readyReplicas"), _column("Up-to-date", ".status.updatedReplicas"),
                      _column("Available", ".status.availableReplicas"), _AGE)),
    _builtin("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), subresources=("status", "scale"),
             generation=True, categories=("all",), scale=_APPS_SCALE,
             columns=(_column("Ready", ".status.readyReplicas"), _AGE)),
    _builtin("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), subresources=("status",), generation=True,
             categories=("all",), columns=(_column("Desired", ".status.desiredNumberScheduled"), _AGE)),
    _builtin("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), subresources=("status", "scale"),
             generation=True, categories=("all",), scale=_APPS_SCALE,
             columns=(_column("Ready", ".status.readyReplicas"), _AGE)),
    _builtin("batch", "v1", "Job", "jobs", subresources=("status",), generation=True, categories=("all",),
             columns=(_column("Status", ".status.conditions[-1:].type"), _AGE)),
    _builtin("batch", "v1", "CronJob", "cronjobs", short=("cj",), subresources=("status",), generation=True,
             categories=("all",), columns=(_column("Schedule", ".spec.schedule"), _AGE)),
    _builtin("coordination.k8s.io", "v1", "Lease", "leases",
             columns=(_column("Holder", ".spec.holderIdentity"), _AGE)),
    _builtin("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), subresources=("status",),
             generation=True, columns=(_column("Class", ".spec.ingressClassName"), _AGE)),
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", columns=(_AGE,)),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, columns=(_AGE,)),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings",
             columns=(_column("Role", ".roleRef.name"), _AGE)),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False,
             columns=(_column("Role", ".roleRef.name"), _AGE)),
    _builtin("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
             "validatingwebhookconfigurations", False, generation=True, columns=(_AGE,)),
    _builtin("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
             "mutatingwebhookconfigurations", False, generation=True, columns=(_AGE,)),
    _builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
             short=("crd", "crds"), subresources=("status",), generation=True,
             columns=(_column("Created At", ".metadata.creationTimestamp"),)),
    # kube-apiserver prints Condition as "Approved,Issued" / "Pending"; printer columns here are JSONPaths only.
    _builtin("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False,
             short=("csr",), subresources=("status", "approval"),
             columns=(_AGE, _column("SignerName", ".spec.signerName"), _column("Requestor", ".spec.username"),
                      _column("RequestedDuration", ".spec.expirationSeconds"),
                      _column("Condition", ".status.conditions[*].type"))),
    _builtin("events.k8s.io", "v1", "Event", "events", short=("ev",),
             columns=(_column("Type", ".type"), _column("Reason", ".reason"), _column("Note", ".note"))),
)


def resource_types_of_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of an (already validated) CRD."""
    spec = crd["spec"]
    names = spec["names"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    result = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        columns = tuple(version.get("additionalPrinterColumns") or ()) or (
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        )
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names.get("singular", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(k for k in ("status", "scale") if k in subresources),
                schema=(version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"},
                printer_columns=columns,
                scale=subresources.get("scale"),
                storage_version=storage,
                custom=True,
                has_generation=True,
                ignore_status_on_write="status" in subresources,
            )
        )
    return result


class Registry:
    """Served resources, looked up by group/version/plural; storage is shared by all versions of a resource."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._crd_owned: dict[str, list[ResourceType]] = {}
        self.generation = 0
        """Bumped on every change, so discovery and OpenAPI caches know when to rebuild."""
        for rt in BUILTIN_RESOURCES:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._by_gvr[(rt.group, rt.version, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def storage_type(self, group: str, plural: str) -> ResourceType | None:
        """The ResourceType of the storage version of a group/resource."""
        for rt in self._by_gvr.values():
            if rt.group == group and rt.plural == plural and rt.version == rt.storage_version:
                return rt
        return None

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for rt in self._by_gvr.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def kind_in_group(self, group: str, kind: str) -> ResourceType | None:
        """Any served version of a kind, preferring the storage version (for ownerReference lookups)."""
        candidates = [rt for rt in self._by_gvr.values() if rt.group == group and rt.kind == kind]
        candidates.sort(key=lambda rt: rt.version != rt.storage_version)
        return candidates[0] if candidates else None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_gvr.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """Groups in registration order, each with its versions, preferred (storage) version first."""
        groups: dict[str, list[str]] = {}
        for rt in self._by_gvr.values():
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                if rt.version == rt.storage_version:
                    versions.insert(0, rt.version)
                else:
                    versions.append(rt.version)
        return groups

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version]

    def register_crd(self, crd: dict[str, Any]) -> None:
        name = crd["metadata"]["name"]
        self.unregister_crd(name)
        types = resource_types_of_crd(crd)
        for rt in types:
            self._add(rt)
        self._crd_owned[name] = types
        self.generation += 1

    def unregister_crd(self, name: str) -> None:
        for rt in self._crd_owned.pop(name, []):
            self._by_gvr.pop((rt.group, rt.version, rt.plural), None)
        self.generation += 1

    def conflicting_names(self, crd: dict[str, Any]) -> tuple[str, str] | None:
        """(reason, message) when another CRD of the group has accepted one of these names, as the apiextensions
        naming controller decides it; the last conflict found wins, in its order of checks."""
        spec = crd["spec"]
        names = spec["names"]
        own = crd["metadata"]["name"]
        used_names: set[str] = set()
        used_kinds: set[str] = set()
        for name, types in self._crd_owned.items():
            if name == own or not types or types[0].group != spec["group"]:
                continue
            rt = types[0]
            used_names |= {rt.plural, rt.singular_name, *rt.short_names}
            used_kinds |= {rt.kind, rt.list_kind}
        conflict: tuple[str, str] | None = None
        if names["plural"] in used_names:
            conflict = ("PluralConflict", f'"{names["plural"]}" is already in use')
        if names.get("singular") and names["singular"] in used_names:
            conflict = ("SingularConflict", f'"{names["singular"]}" is already in use')
        for short_name in names.get("shortNames") or ():
            if short_name in used_names:
                conflict = ("ShortNamesConflict", f'"{short_name}" is already in use')
        if names["kind"] in used_kinds:
            conflict = ("KindConflict", f'"{names["kind"]}" is already in use')
        list_kind = names.get("listKind") or names["kind"] + "List"
        if list_kind in used_kinds:
            conflict = ("ListKindConflict", f'"{list_kind}" is already in use')
        return conflict
