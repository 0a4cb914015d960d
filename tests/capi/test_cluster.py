"""The simulated Cluster controller: infrastructure readiness, endpoint, ownership, control plane initialization."""

from __future__ import annotations

import base64

from ruamel.yaml import YAML

from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.envtest.capi._connection import client_for
from k0smotron_core.envtest.capi.pytest_plugin import ChildClusterFactory
from k0smotron_core.runtime import Client

from ._support import CAPI, INFRA, cluster, condition, eventually, fake, get, status_of


async def test_cluster_takes_infrastructure_readiness_and_endpoint_from_its_infra_cluster(
    capi: CAPIEnvironment, kube: Client
) -> None:
    await kube.create(fake("FakeCluster", "infra"))
    await kube.create(cluster("c1", infra="infra"))

    infra = await eventually(lambda: (o := get(capi.env, INFRA, "FakeCluster", "infra"))
                             and o["metadata"].get("ownerReferences") and o, what="owner reference")
    owner = infra["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner.get("controller")) == ("Cluster", "c1", True)
    assert infra["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "c1"
    await eventually(lambda: status_of(capi.env, CAPI, "Cluster", "c1").get("phase") == "Provisioning")
    assert condition(get(capi.env, CAPI, "Cluster", "c1"), "InfrastructureReady") == "False"

    await kube.patch(INFRA, "FakeCluster", "infra", "default",
                     {"spec": {"controlPlaneEndpoint": {"host": "10.0.0.1", "port": 6443}}})
    await kube.patch(INFRA, "FakeCluster", "infra", "default", {"status": {"ready": True}}, subresource="status")

    await eventually(lambda: status_of(capi.env, CAPI, "Cluster", "c1").get("phase") == "Provisioned")
    obj = get(capi.env, CAPI, "Cluster", "c1")
    assert obj is not None
    assert obj["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.1", "port": 6443}
    assert obj["status"]["infrastructureReady"] is True
    assert obj["status"]["initialization"]["infrastructureProvisioned"] is True
    assert condition(obj, "InfrastructureReady") == "True"
    assert condition(obj, "ControlPlaneInitialized") == "False"
    assert "cluster.cluster.x-k8s.io" in obj["metadata"]["finalizers"]


async def test_a_cluster_without_infrastructure_ref_keeps_a_user_set_endpoint(
    capi: CAPIEnvironment, kube: Client
) -> None:
    body = cluster("c2")
    body["spec"]["controlPlaneEndpoint"] = {"host": "vip.example", "port": 443}
    await kube.create(body)
    await eventually(lambda: status_of(capi.env, CAPI, "Cluster", "c2").get("phase") == "Provisioned")
    obj = get(capi.env, CAPI, "Cluster", "c2")
    assert obj is not None and obj["spec"]["controlPlaneEndpoint"] == {"host": "vip.example", "port": 443}


async def test_child_cluster_fixture_publishes_secrets_and_marks_the_control_plane_initialized(
    capi: CAPIEnvironment, kube: Client, child_cluster: ChildClusterFactory
) -> None:
    await kube.create(fake("FakeCluster", "infra"))
    await kube.create(cluster("c3", infra="infra"))
    child = await child_cluster("c3")

    obj = get(capi.env, CAPI, "Cluster", "c3")
    assert obj is not None
    assert obj["spec"]["controlPlaneEndpoint"] == {"host": child.host, "port": child.port}
    assert condition(obj, "ControlPlaneInitialized") == "True"
    ca = get(capi.env, "v1", "Secret", "c3-ca")
    assert ca is not None and base64.b64decode(ca["data"]["tls.crt"]) == child.ca.cert_pem
    assert ca["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "c3"

    # The simulator keeps the mark (it latches) while it goes on reconciling the Cluster.
    await kube.patch(INFRA, "FakeCluster", "infra", "default", {"status": {"ready": True}}, subresource="status")
    await eventually(lambda: status_of(capi.env, CAPI, "Cluster", "c3").get("phase") == "Provisioned")
    obj = get(capi.env, CAPI, "Cluster", "c3")
    assert condition(obj, "ControlPlaneInitialized") == "True"
    assert obj is not None and obj["status"]["initialization"]["controlPlaneInitialized"] is True

    # The kubeconfig Secret reaches the child API server, verifying it with the published CA.
    secret = get(capi.env, "v1", "Secret", "c3-kubeconfig")
    assert secret is not None
    kubeconfig = YAML(typ="safe").load(base64.b64decode(secret["data"]["value"]))
    cluster_entry = kubeconfig["clusters"][0]["cluster"]
    assert base64.b64decode(cluster_entry["certificate-authority-data"]) == child.ca.cert_pem
    assert cluster_entry["server"] == f"https://{child.host}:{child.port}"
    child_client = client_for(child.env, user="test")
    try:
        namespaces = await child_client.list("v1", "Namespace")
    finally:
        await child_client.transport.close()
    assert "kube-system" in {n["metadata"]["name"] for n in namespaces}
