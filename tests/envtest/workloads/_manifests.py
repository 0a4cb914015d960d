"""Manifests of the workloads the tests run: plain StatefulSets and Deployments, and a hosted k0s control plane
shaped like the one the control plane provider creates (StatefulSet `kmc-<n>`, Service `kmc-<n>`, CA Secrets)."""

from __future__ import annotations

from typing import Any

from k0smotron_core import pki

Obj = dict[str, Any]
K0S_IMAGE = "quay.io/k0sproject/k0s:v1.27.2-k0s.0"


def stateful_set(name: str, replicas: int, *, policy: str = "OrderedReady", image: str = "nginx:1.25",
                 claims: bool = False, namespace: str = "default") -> Obj:
    spec: Obj = {
        "replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "main", "image": image}]}},
    }
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def deployment(name: str, replicas: int, *, image: str = "nginx:1.25") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def hosted_control_plane(cluster: str, ca: pki.KeyPair, *, service_type: str = "NodePort", replicas: int = 1,
                         namespace: str = "default", api_port: int = 30443) -> list[Obj]:
    """The CA Secret, the Service and the StatefulSet of a hosted k0s control plane."""
    labels = {"app": "k0smotron", "cluster": cluster, "cluster.x-k8s.io/control-plane": "true"}
    selector = {"app": "k0smotron", "cluster": cluster}
    secret = pki.cluster_certificates_secret(cluster, namespace, "ca", ca)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"kmc-{cluster}", "namespace": namespace},
               "spec": {"type": service_type, "selector": selector, "ports": [
                   {"name": "api", "port": api_port, "targetPort": api_port, "protocol": "TCP"},
                   {"name": "konnectivity", "port": 30132, "targetPort": 30132, "protocol": "TCP"}]}}
    sources = [{"secret": {"name": f"{cluster}-ca", "items": [{"key": "tls.crt", "path": "ca.crt"},
                                                               {"key": "tls.key", "path": "ca.key"}]}}]
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": f"kmc-{cluster}",
                                                                       "namespace": namespace},
           "spec": {"replicas": replicas, "serviceName": f"kmc-{cluster}", "selector": {"matchLabels": selector},
                    "template": {"metadata": {"labels": labels}, "spec": {
                        "containers": [{"name": "controller", "image": K0S_IMAGE, "args": ["k0s", "controller"],
                                        "volumeMounts": [{"name": "certs", "mountPath": "/var/lib/k0s/pki"}]}],
                        "volumes": [{"name": "certs", "projected": {"sources": sources}}]}}}}
    return [secret, service, sts]
