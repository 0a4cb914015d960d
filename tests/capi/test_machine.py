"""The simulated Machine controller: ownership, bootstrap data, infrastructure, nodeRef, deletion order."""

from __future__ import annotations

from k0smotron_core.envtest.capi import CAPIEnvironment, ChildCluster
from k0smotron_core.envtest.capi.pytest_plugin import ChildClusterFactory
from k0smotron_core.runtime import Client

from ._support import (
    BOOTSTRAP,
    CAPI,
    INFRA,
    cluster,
    condition,
    eventually,
    fake,
    get,
    machine,
    status_of,
    worker_config,
)

PROVIDER_ID = "fake://machine-0"


async def _machine_with_objects(kube: Client, name: str = "m0") -> None:
    await kube.create(cluster("c1"))
    await kube.create(worker_config(name))
    await kube.create(fake("FakeMachine", name))
    await kube.create(machine(name, "c1", config=name, infra=name))


async def _provision(kube: Client, name: str = "m0") -> None:
    await kube.patch(BOOTSTRAP, "K0sWorkerConfig", name, "default",
                     {"status": {"ready": True, "dataSecretName": f"{name}-bootstrap"}}, subresource="status")
    await kube.patch(INFRA, "FakeMachine", name, "default", {"spec": {"providerID": PROVIDER_ID}})
    await kube.patch(INFRA, "FakeMachine", name, "default", {"status": {
        "ready": True, "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}, subresource="status")


def _node(name: str = "node-0") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"providerID": PROVIDER_ID}}


async def test_machine_owns_its_provider_objects_and_copies_bootstrap_data_and_infrastructure(
    capi: CAPIEnvironment, kube: Client
) -> None:
    await _machine_with_objects(kube)

    def owned(api_version: str, kind: str) -> bool:
        obj = get(capi.env, api_version, kind, "m0") or {}
        refs = obj.get("metadata", {}).get("ownerReferences") or []
        return any(r["kind"] == "Machine" and r["name"] == "m0" and r.get("controller") for r in refs)

    await eventually(lambda: owned(BOOTSTRAP, "K0sWorkerConfig") and owned(INFRA, "FakeMachine"), what="owners")
    for api_version, kind in ((BOOTSTRAP, "K0sWorkerConfig"), (INFRA, "FakeMachine")):
        obj = get(capi.env, api_version, kind, "m0")
        assert obj is not None and obj["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "c1"
    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Pending")
    obj = get(capi.env, CAPI, "Machine", "m0")
    assert obj is not None
    assert obj["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "c1"
    assert "machine.cluster.x-k8s.io" in obj["metadata"]["finalizers"]
    assert condition(obj, "BootstrapReady") == "False"
    assert "dataSecretName" not in obj["spec"]["bootstrap"]

    await _provision(kube)

    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Provisioned")
    obj = get(capi.env, CAPI, "Machine", "m0")
    assert obj is not None
    assert obj["spec"]["bootstrap"]["dataSecretName"] == "m0-bootstrap"
    assert obj["spec"]["providerID"] == PROVIDER_ID
    assert obj["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"}]
    assert obj["status"]["bootstrapReady"] is True and obj["status"]["infrastructureReady"] is True
    assert condition(obj, "BootstrapReady") == "True" and condition(obj, "InfrastructureReady") == "True"
    v1beta2 = {c["type"]: c["status"] for c in obj["status"]["v1beta2"]["conditions"]}
    assert v1beta2["BootstrapConfigReady"] == "True"


async def test_machine_gets_a_node_ref_when_its_node_appears_in_the_child_cluster(
    capi: CAPIEnvironment, kube: Client, child_cluster: ChildClusterFactory
) -> None:
    await _machine_with_objects(kube)
    child: ChildCluster = await child_cluster("c1")
    await _provision(kube)
    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Provisioned")
    assert "nodeRef" not in status_of(capi.env, CAPI, "Machine", "m0")

    child.env.create(_node())

    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Running", what="Running")
    status = status_of(capi.env, CAPI, "Machine", "m0")
    assert status["nodeRef"]["name"] == "node-0" and status["nodeRef"]["kind"] == "Node"
    node = await eventually(lambda: (n := child.env.get("v1", "Node", "node-0"))
                            and "cluster.x-k8s.io/machine" in (n["metadata"].get("annotations") or {}) and n)
    assert node["metadata"]["annotations"]["cluster.x-k8s.io/cluster-name"] == "c1"


async def test_machine_deletion_waits_for_hooks_then_removes_infrastructure_bootstrap_and_node_in_order(
    capi: CAPIEnvironment, kube: Client, child_cluster: ChildClusterFactory
) -> None:
    hook = "pre-terminate.delete.hook.machine.cluster.x-k8s.io/test"
    await _machine_with_objects(kube)
    child: ChildCluster = await child_cluster("c1")
    child.env.create(_node())
    await _provision(kube)
    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Running")
    # A finalizer of "the infrastructure provider" holds the infra machine, to observe what core waits for.
    await kube.patch(CAPI, "Machine", "m0", "default", {"metadata": {"annotations": {hook: ""}}})
    await kube.patch(INFRA, "FakeMachine", "m0", "default", {"metadata": {"finalizers": ["fake.infra/cleanup"]}})

    await kube.delete(CAPI, "Machine", "m0", "default")
    await eventually(lambda: status_of(capi.env, CAPI, "Machine", "m0").get("phase") == "Deleting")
    status = status_of(capi.env, CAPI, "Machine", "m0")
    assert "waitForPreTerminateHookStartTime" in status["deletion"]
    fake_machine = get(capi.env, INFRA, "FakeMachine", "m0")
    assert fake_machine is not None and "deletionTimestamp" not in fake_machine["metadata"]

    await kube.patch(CAPI, "Machine", "m0", "default", {"metadata": {"annotations": {hook: None}}})
    await eventually(lambda: "deletionTimestamp" in (get(capi.env, INFRA, "FakeMachine", "m0") or {})
                     .get("metadata", {}), what="infra machine deletion")
    # Infrastructure first, and core waits until it is gone before touching the bootstrap config and the Node.
    config = get(capi.env, BOOTSTRAP, "K0sWorkerConfig", "m0")
    assert config is not None and "deletionTimestamp" not in config["metadata"]
    assert child.env.get("v1", "Node", "node-0") is not None
    assert get(capi.env, CAPI, "Machine", "m0") is not None

    await kube.patch(INFRA, "FakeMachine", "m0", "default", {"metadata": {"finalizers": None}})
    await eventually(lambda: get(capi.env, CAPI, "Machine", "m0") is None, what="Machine gone")
    assert get(capi.env, BOOTSTRAP, "K0sWorkerConfig", "m0") is None
    assert child.env.get("v1", "Node", "node-0") is None
