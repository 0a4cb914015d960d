"""The seed's MachineDeployment + K0sWorkerConfigTemplate: one bootstrap Secret per Machine through scaling, and no
join token left in the workload cluster once the nodes have joined."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from k0smotron_core.envtest._storage import RequestContext
from k0smotron_core.envtest.capi import ChildCluster

from .conftest import Bootstrap

NS = "default"
CAPI = "cluster.x-k8s.io/v1beta1"


async def _eventually(condition: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def _seed_objects() -> list[dict[str, Any]]:
    labels = {"cluster.x-k8s.io/cluster-name": "cp-test", "pool": "worker-pool-1"}
    return [
        {"apiVersion": CAPI, "kind": "MachineDeployment", "metadata": {"name": "md-test", "namespace": NS},
         "spec": {"replicas": 2, "clusterName": "cp-test", "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "clusterName": "cp-test",
                      "bootstrap": {"configRef": {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1",
                                                  "kind": "K0sWorkerConfigTemplate", "name": "md-test-config"}},
                      "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                                            "kind": "AWSMachineTemplate", "name": "mt-test"}}}}},
        {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfigTemplate",
         "metadata": {"name": "md-test-config", "namespace": NS},
         "spec": {"template": {"spec": {"version": "v1.27.2+k0s.0"}}}},
        {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachineTemplate",
         "metadata": {"name": "mt-test", "namespace": NS}, "spec": {"template": {"spec": {}}}},
    ]


def _machines(b: Bootstrap) -> list[dict[str, Any]]:
    rt = b.capi.env.resource_type(CAPI, "Machine")
    return [m for m in b.capi.env.store.objects(rt.group_resource, NS) if not m["metadata"].get("deletionTimestamp")]


def _data_secrets(b: Bootstrap) -> set[str]:
    rt = b.capi.env.resource_type("v1", "Secret")
    return {s["metadata"]["name"] for s in b.capi.env.store.objects(rt.group_resource, NS)
            if s.get("type") == "cluster.x-k8s.io/secret"
            and (s["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "bootstrap"}


def _configs_with_data(b: Bootstrap) -> set[str]:
    return {m["spec"]["bootstrap"]["dataSecretName"] for m in _machines(b)
            if m["spec"]["bootstrap"].get("dataSecretName")}


def _tokens(child: ChildCluster) -> list[str]:
    rt = child.env.resource_type("v1", "Secret")
    return [s["metadata"]["name"] for s in child.env.store.objects(rt.group_resource, "kube-system")
            if s.get("type") == "bootstrap.kubernetes.io/token"]


def _scale(b: Bootstrap, replicas: int) -> None:
    rt = b.capi.env.resource_type(CAPI, "MachineDeployment")
    b.capi.env.storage.patch(rt, NS, "md-test", "application/merge-patch+json", {"spec": {"replicas": replicas}},
                             RequestContext(field_manager="test"))


def _join_all(b: Bootstrap, child: ChildCluster) -> None:
    """What a node does when it joins: its infrastructure is ready with a providerID, and its Node exists."""
    aws = b.capi.env.resource_type("infrastructure.cluster.x-k8s.io/v1beta2", "AWSMachine")
    for machine in _machines(b):
        name = machine["spec"]["infrastructureRef"]["name"]
        provider_id = f"aws:///{name}"
        infra = b.capi.env.get("infrastructure.cluster.x-k8s.io/v1beta2", "AWSMachine", name, NS)
        if infra is None or infra.get("spec", {}).get("providerID"):
            continue
        context = RequestContext(field_manager="test")
        b.capi.env.storage.patch(aws, NS, name, "application/merge-patch+json",
                                 {"spec": {"providerID": provider_id}, "status": {"ready": True}}, context)
        if child.env.get("v1", "Node", machine["metadata"]["name"]) is None:
            child.env.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": machine["metadata"]["name"]},
                              "spec": {"providerID": provider_id}})


async def test_a_machine_deployment_gets_one_bootstrap_secret_per_machine_through_scaling(
    bootstrap: Bootstrap
) -> None:
    b = bootstrap
    b.capi.env.create({"apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": "cp-test", "namespace": NS},
                       "spec": {}})
    child = await b.capi.child_cluster("cp-test")
    for obj in _seed_objects():
        b.capi.env.create(obj)

    await _eventually(lambda: len(_configs_with_data(b)) == 2)
    assert _data_secrets(b) == _configs_with_data(b)
    assert len(_tokens(child)) == 2

    _scale(b, 5)
    await _eventually(lambda: len(_machines(b)) == 5 and len(_configs_with_data(b)) == 5)
    assert _data_secrets(b) == _configs_with_data(b)
    assert len(_tokens(child)) == 5

    _join_all(b, child)
    await _eventually(lambda: all(m.get("status", {}).get("nodeRef") for m in _machines(b)))
    await _eventually(lambda: _tokens(child) == [])

    _scale(b, 1)
    await _eventually(lambda: len(_machines(b)) == 1 and len(_data_secrets(b)) == 1)
    assert _data_secrets(b) == _configs_with_data(b)
    assert _tokens(child) == []
