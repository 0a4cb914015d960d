"""A k0smotron.io Cluster end to end with the workload simulation: its StatefulSets run, the k0s pods serve a child
API server with the cluster CA, the kubeconfig (minted, never exec'd) reaches it and the cluster becomes Available."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from ruamel.yaml import YAML

from k0smotron_core.envtest.workloads import WorkloadSimulator

from ..infrastructure._support import NS, condition, eventually, get, patch
from .conftest import KMCController

KMC = "k0smotron.io/v1beta1"
NAME = "hosted"


def v1beta2(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in (((obj or {}).get("status") or {}).get("v1beta2") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return {}


async def test_hosted_control_plane_becomes_available(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    async with WorkloadSimulator(env, node_address="127.0.0.1"):
        env.create({"apiVersion": KMC, "kind": "Cluster",
                    "metadata": {"name": NAME, "namespace": NS, "labels": {"cluster.x-k8s.io/cluster-name": NAME}},
                    "spec": {"service": {"type": "NodePort", "apiPort": 31643, "konnectivityPort": 31632},
                             "kubeconfigSecretMetadata": {"labels": {"team": "a"},
                                                          "annotations": {"note": "hi"}}}})

        def available() -> dict[str, Any] | None:
            cluster = get(env, KMC, "Cluster", NAME)
            return cluster if condition(cluster, "Available").get("status") == "True" else None

        cluster = await eventually(available, 60, what="Available",
                                   explain=lambda: (get(env, KMC, "Cluster", NAME) or {}).get("status"))
        status = cluster["status"]
        assert cluster["spec"]["externalAddress"] == "127.0.0.1"  # the simulated management node's InternalIP
        assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (1, 1, 1)
        assert status["ready"] is True
        assert status["reconciliationStatus"] == "Reconciliation successful"
        assert "cluster.x-k8s.io/control-plane=true" in status["selector"]
        for type_, reason in (("ControlPlaneFunctional", "KubeSystemNamespaceFound"),
                              ("KubeconfigSecretAvailable", "Created"),
                              ("ControlPlaneExposed", "ClusterWithExternalAddress"),
                              ("CertificatesAvailable", "Created"),
                              ("ControlPlaneScaling", "ControlPlaneWithDesiredReplicas"),
                              ("ControlPlaneUpToDate", "AllReplicasUpToDate"),
                              ("Deleting", "NotDeleting")):
            assert v1beta2(cluster, type_)["reason"] == reason, type_
            assert condition(cluster, type_)["reason"] == reason, type_
        assert v1beta2(cluster, "Available")["status"] == "True"

        # The kubeconfig Secret: shape, server, CA, a client certificate signed by the cluster CA, no exec.
        secret = get(env, "v1", "Secret", f"{NAME}-kubeconfig")
        assert secret is not None
        assert secret["type"] == "cluster.x-k8s.io/secret"
        assert set(secret["data"]) == {"value"}
        labels = secret["metadata"]["labels"]
        assert labels["cluster.x-k8s.io/cluster-name"] == NAME
        assert labels["app.kubernetes.io/component"] == "kubeconfig"
        assert (labels["app"], labels["cluster"], labels["team"]) == ("k0smotron", NAME, "a")
        assert secret["metadata"]["annotations"]["note"] == "hi"
        owner = secret["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("Cluster", NAME, True)
        config = YAML(typ="safe").load(base64.b64decode(secret["data"]["value"]))
        assert config["current-context"] == f"{NAME}-admin@{NAME}-k0s"
        [named_cluster] = config["clusters"]
        assert named_cluster["name"] == f"{NAME}-k0s"
        assert named_cluster["cluster"]["server"] == "https://127.0.0.1:31643"
        ca_secret = get(env, "v1", "Secret", f"{NAME}-ca")
        assert ca_secret is not None
        assert named_cluster["cluster"]["certificate-authority-data"] == ca_secret["data"]["tls.crt"]
        [user] = config["users"]
        assert user["name"] == f"{NAME}-admin" and "exec" not in user["user"]
        ca = x509.load_pem_x509_certificate(base64.b64decode(ca_secret["data"]["tls.crt"]))
        client = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
        client.verify_directly_issued_by(ca)
        assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
        assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
        lifetime = client.not_valid_after_utc - client.not_valid_before_utc
        assert dt.timedelta(days=364) < lifetime < dt.timedelta(days=366)
        assert not [e for e in env.audit.events() if e.subresource == "exec"]

        # Another pass keeps the kubeconfig; scaling is reflected in the status.
        version = secret["metadata"]["resourceVersion"]
        patch(env, KMC, "Cluster", NAME, {"spec": {"replicas": 3}})
        await eventually(lambda: (get(env, KMC, "Cluster", NAME) or {}).get("status", {}).get("readyReplicas") == 3,
                         60, what="3 ready replicas")
        await eventually(lambda: get(env, "apps/v1", "StatefulSet", f"kmc-{NAME}-etcd")["spec"]["replicas"] == 3,
                         60, what="etcd grown to 3")
        await eventually(available, 60, what="Available again")
        assert get(env, "v1", "Secret", f"{NAME}-kubeconfig")["metadata"]["resourceVersion"] == version
        assert not [e for e in env.audit.events() if e.subresource == "exec"]
        assert "BEGIN" not in kmc_controller.logs.getvalue()  # no key or certificate in the logs
