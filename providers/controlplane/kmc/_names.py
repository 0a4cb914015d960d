"""Names, labels and annotations of the objects generated for a k0smotron.io Cluster (wire contract, spec §4.2)."""

from __future__ import annotations

import hashlib
from typing import Any, Final

from k0smotron_core.api import k0smotron

API_VERSION: Final = k0smotron.Cluster.crd.api_version
KIND: Final = "Cluster"
FINALIZER: Final = "k0smotron.io/finalizer"
FIELD_MANAGER: Final = "k0smotron-operator"
CLUSTER_NAME_LABEL: Final = "cluster.x-k8s.io/cluster-name"
CONTROL_PLANE_LABEL: Final = "cluster.x-k8s.io/control-plane"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
STATEFULSET_HASH_ANNOTATION: Final = "k0smotron.io/statefulset-hash"
CLUSTER_SECRET_TYPE: Final = "cluster.x-k8s.io/secret"
_SKIPPED_ANNOTATIONS: Final = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})

MAX_NAME: Final = 63


def shorten(name: str) -> str:
    """Names longer than 63 characters: the first 57, `-`, and the first 5 hex digits of the name's md5."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:57]}-{hashlib.md5(name.encode()).hexdigest()[:5]}"


def statefulset(n: str) -> str:
    return shorten(f"kmc-{n}")


def data_volume(n: str) -> str:
    return shorten(f"kmc-{n}")


def config_map(n: str) -> str:
    return shorten(f"kmc-{n}-config")


def entrypoint_config_map(n: str) -> str:
    return shorten(f"kmc-entrypoint-{n}-config")


def service(n: str, service_type: str) -> str:
    if service_type == "NodePort":
        return shorten(f"kmc-{n}-nodeport")
    if service_type == "LoadBalancer":
        return shorten(f"kmc-{n}-lb")
    return shorten(f"kmc-{n}")


def all_services(n: str) -> list[str]:
    return [service(n, t) for t in ("ClusterIP", "NodePort", "LoadBalancer")]


def etcd(n: str) -> str:
    """The etcd headless Service and StatefulSet."""
    return shorten(f"kmc-{n}-etcd")


def kubeconfig_secret(n: str) -> str:
    return f"{n}-kubeconfig"


def base_labels(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, str]:
    """`app=k0smotron`, `cluster=<n>`, the KMC's labels, the kubeconfig Secret metadata labels, `component=cluster`."""
    metadata = spec.kubeconfig_secret_metadata
    return {"app": "k0smotron", "cluster": kmc["metadata"]["name"], **(kmc["metadata"].get("labels") or {}),
            **((metadata.labels if metadata else None) or {}), "component": "cluster"}


def control_plane_labels(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, str]:
    """The k0s StatefulSet's selector."""
    return {**base_labels(kmc, spec), CONTROL_PLANE_LABEL: "true"}


def component_labels(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, component: str) -> dict[str, str]:
    return {**base_labels(kmc, spec), COMPONENT_LABEL: component}


def etcd_selector(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, str]:
    return {**base_labels(kmc, spec), "component": "etcd"}


def etcd_labels(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, str]:
    return {**etcd_selector(kmc, spec), COMPONENT_LABEL: "etcd"}


def object_annotations(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, str]:
    """The KMC's annotations and the kubeconfig Secret metadata annotations."""
    metadata = spec.kubeconfig_secret_metadata
    own = {k: v for k, v in (kmc["metadata"].get("annotations") or {}).items() if k not in _SKIPPED_ANNOTATIONS}
    return {**own, **((metadata.annotations if metadata else None) or {})}


def owner_reference(kmc: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": kmc.get("apiVersion") or API_VERSION, "kind": KIND, "name": kmc["metadata"]["name"],
            "uid": kmc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def metadata(kmc: dict[str, Any], name: str, labels: dict[str, str],
             extra_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": kmc["metadata"]["namespace"], "labels": labels,
                            "ownerReferences": [owner_reference(kmc)]}
    if extra_annotations:
        meta["annotations"] = extra_annotations
    return meta
