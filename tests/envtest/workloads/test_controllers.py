"""The simulated workload controllers: StatefulSets, Deployments, ReplicaSets, the scheduler and kubelet, and
LoadBalancer addresses, observed through the store as a client would see them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext
from k0smotron_core.envtest.workloads import WorkloadSimulator, is_ready

from ._manifests import deployment, stateful_set

Obj = dict[str, Any]


def _pods(env: EnvTest, prefix: str = "") -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in env.store.objects(("", "pods"), "default")
            if p["metadata"]["name"].startswith(prefix)}


def _get(env: EnvTest, api_version: str, kind: str, name: str) -> Obj:
    obj = env.get(api_version, kind, name, "" if kind == "Node" else "default")
    assert obj is not None, f"{kind} {name} is missing"
    return obj


def _status(env: EnvTest, api_version: str, kind: str, name: str) -> Obj:
    obj = env.get(api_version, kind, name, "default")
    return (obj or {}).get("status") or {}


def _update(env: EnvTest, obj: Obj) -> None:
    rt = env.resource_type(obj["apiVersion"], obj["kind"])
    env.storage.update(rt, obj["metadata"]["namespace"], obj["metadata"]["name"], obj, RequestContext())


def _scale(env: EnvTest, kind: str, name: str, replicas: int) -> None:
    obj = copy.deepcopy(_get(env, "apps/v1", kind, name))
    obj["spec"]["replicas"] = replicas
    _update(env, obj)


async def test_a_stateful_set_gets_its_pods_and_claims_in_order_with_status_counts(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    env.create(stateful_set("web", 3, claims=True))
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("readyReplicas") == 3)

    pods = _pods(env, "web-")
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    creation = [pods[f"web-{i}"]["metadata"]["creationTimestamp"] for i in range(3)]
    assert creation == sorted(creation)
    sts = _get(env, "apps/v1", "StatefulSet", "web")
    pod = pods["web-1"]
    assert pod["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": sts["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}]
    labels = pod["metadata"]["labels"]
    assert labels["app"] == "web" and labels["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert labels["controller-revision-hash"] == sts["status"]["updateRevision"]
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}} in pod["spec"]["volumes"]

    claims = {c["metadata"]["name"]: c for c in env.store.objects(("", "persistentvolumeclaims"), "default")}
    assert sorted(claims) == ["data-web-0", "data-web-1", "data-web-2"]
    assert claims["data-web-0"]["status"]["phase"] == "Bound"
    assert claims["data-web-0"]["status"]["capacity"] == {"storage": "1Gi"}

    status = sts["status"]
    assert status["replicas"] == status["readyReplicas"] == status["availableReplicas"] == 3
    assert status["currentReplicas"] == status["updatedReplicas"] == 3
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    assert status["currentRevision"] == status["updateRevision"]


async def test_ordered_ready_creates_the_next_pod_only_once_the_previous_one_is_ready(
    async_envtest: EnvTest,
) -> None:
    env = async_envtest
    async with WorkloadSimulator(env, pod_ready_delay_s=0.3) as sim:
        env.create(stateful_set("db", 3))
        await sim.wait_for(lambda: "db-0" in _pods(env))
        assert list(_pods(env, "db-")) == ["db-0"]
        assert not is_ready(_pods(env)["db-0"])
        await sim.wait_for(lambda: "db-1" in _pods(env), timeout_s=3)
        assert is_ready(_pods(env)["db-0"]) and not is_ready(_pods(env)["db-1"])
        assert "db-2" not in _pods(env)
        await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "db").get("readyReplicas") == 3, 5)


async def test_parallel_pod_management_creates_every_pod_at_once(async_envtest: EnvTest) -> None:
    env = async_envtest
    async with WorkloadSimulator(env, pod_ready_delay_s=0.3) as sim:
        env.create(stateful_set("par", 3, policy="Parallel"))
        await sim.wait_for(lambda: len(_pods(env, "par-")) == 3, timeout_s=0.25)
        assert not any(is_ready(p) for p in _pods(env, "par-").values())


async def test_a_stateful_set_scales_up_and_down_from_the_highest_ordinal(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    env.create(stateful_set("web", 2, claims=True))
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("readyReplicas") == 2)
    _scale(env, "StatefulSet", "web", 4)
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("readyReplicas") == 4)

    deleted: list[str] = []

    def record(event: Any) -> None:
        if event.group_resource == ("", "pods") and event.type == "DELETED":
            deleted.append(event.object["metadata"]["name"])

    env.store.add_listener(record)
    _scale(env, "StatefulSet", "web", 1)
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("replicas") == 1)
    assert deleted == ["web-3", "web-2", "web-1"]
    assert list(_pods(env, "web-")) == ["web-0"]
    # Claims are retained by default (whenScaled: Retain).
    assert len(env.store.objects(("", "persistentvolumeclaims"), "default")) == 4
    status = _status(env, "apps/v1", "StatefulSet", "web")
    assert status["readyReplicas"] == status["availableReplicas"] == 1


async def test_a_changed_pod_template_rolls_the_pods_from_the_highest_ordinal(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    env.create(stateful_set("web", 3))
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("readyReplicas") == 3)
    old_revision = _status(env, "apps/v1", "StatefulSet", "web")["currentRevision"]
    sts = copy.deepcopy(_get(env, "apps/v1", "StatefulSet", "web"))
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    _update(env, sts)

    def rolled() -> bool:
        current = _get(env, "apps/v1", "StatefulSet", "web")
        status = current.get("status") or {}
        return status.get("observedGeneration") == current["metadata"]["generation"] \
            and status.get("updatedReplicas") == 3 and status.get("readyReplicas") == 3 \
            and status.get("currentRevision") == status.get("updateRevision")

    await sim.wait_for(rolled)
    status = _status(env, "apps/v1", "StatefulSet", "web")
    assert status["currentRevision"] != old_revision
    assert {p["spec"]["containers"][0]["image"] for p in _pods(env, "web-").values()} == {"nginx:1.27"}


async def test_deleting_a_stateful_set_collects_its_pods(async_envtest: EnvTest, sim: WorkloadSimulator) -> None:
    env = async_envtest
    env.create(stateful_set("web", 2))
    await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "web").get("readyReplicas") == 2)
    rt = env.resource_type("apps/v1", "StatefulSet")
    env.storage.delete(rt, "default", "web", DeleteOptions(propagation_policy="Background"), RequestContext())
    await sim.wait_for(lambda: not _pods(env, "web-"))
    await env.settle()
    assert env.get("apps/v1", "StatefulSet", "web", "default") is None


async def test_a_deployment_runs_its_pods_through_a_replica_set(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    env.create(deployment("api", 2))
    await sim.wait_for(lambda: _status(env, "apps/v1", "Deployment", "api").get("availableReplicas") == 2)

    deploy = _get(env, "apps/v1", "Deployment", "api")
    replica_sets = env.store.objects(("apps", "replicasets"), "default")
    assert len(replica_sets) == 1
    rs = replica_sets[0]
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"api-{pod_hash}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deploy["metadata"]["uid"]
    assert rs["status"]["readyReplicas"] == 2
    pods = _pods(env, "api-")
    assert len(pods) == 2
    for pod in pods.values():
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == pod_hash
    status = deploy["status"]
    assert status["replicas"] == status["updatedReplicas"] == status["readyReplicas"] == 2
    assert status["observedGeneration"] == deploy["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    updated = copy.deepcopy(deploy)
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    _update(env, updated)

    def rolled_out() -> bool:
        d = _get(env, "apps/v1", "Deployment", "api")
        s = d.get("status") or {}
        return s.get("observedGeneration") == d["metadata"]["generation"] and s.get("updatedReplicas") == 2 \
            and s.get("replicas") == 2 and s.get("availableReplicas") == 2

    await sim.wait_for(rolled_out)
    assert {p["spec"]["containers"][0]["image"] for p in _pods(env, "api-").values()} == {"nginx:1.27"}
    assert _get(env, "apps/v1", "Deployment", "api")["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "2"


async def test_the_kubelet_binds_pods_and_reports_them_ready_with_an_ip(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    await sim.wait_for(lambda: env.get("v1", "Node", "sim-node-0") is not None
                       and bool((env.get("v1", "Node", "sim-node-0") or {}).get("status")))
    node = _get(env, "v1", "Node", "sim-node-0")
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    env.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "default"},
                "spec": {"initContainers": [{"name": "init", "image": "busybox"}],
                         "containers": [{"name": "main", "image": "nginx"}]}})
    await sim.wait_for(lambda: is_ready(_get(env, "v1", "Pod", "solo")))
    pod = _get(env, "v1", "Pod", "solo")
    status = pod["status"]
    assert pod["spec"]["nodeName"] == "sim-node-0"
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("10.244.") and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.0.1"
    assert {c["type"] for c in status["conditions"] if c["status"] == "True"} >= {
        "PodScheduled", "Initialized", "ContainersReady", "Ready"}
    assert status["containerStatuses"][0]["ready"] is True
    assert "running" in status["containerStatuses"][0]["state"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


async def test_pods_spread_over_several_nodes(async_envtest: EnvTest) -> None:
    env = async_envtest
    async with WorkloadSimulator(env, nodes=3) as sim:
        env.create(stateful_set("spread", 6, policy="Parallel"))
        await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "spread").get("readyReplicas") == 6)
        nodes = [p["spec"]["nodeName"] for p in _pods(env, "spread-").values()]
        assert sorted(set(nodes)) == ["sim-node-0", "sim-node-1", "sim-node-2"]
        assert all(nodes.count(n) == 2 for n in set(nodes))


@pytest.mark.parametrize("count", [2])
async def test_load_balancer_services_get_stable_addresses_that_are_released_on_delete(
    async_envtest: EnvTest, sim: WorkloadSimulator, count: int
) -> None:
    env = async_envtest
    for i in range(count):
        env.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"lb-{i}", "namespace": "default"},
                    "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 443}]}})

    def ingress(name: str) -> list[Obj]:
        svc = env.get("v1", "Service", name, "default") or {}
        return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])

    await sim.wait_for(lambda: all(ingress(f"lb-{i}") for i in range(count)))
    assert [ingress(f"lb-{i}")[0]["ip"] for i in range(count)] == ["127.1.0.1", "127.1.0.2"]
    env.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "plain", "namespace": "default"},
                "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
    rt = env.resource_type("v1", "Service")
    env.storage.delete(rt, "default", "lb-0", DeleteOptions(), RequestContext())
    env.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb-new", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 443}]}})
    await sim.wait_for(lambda: bool(ingress("lb-new")))
    assert ingress("lb-new")[0]["ip"] == "127.1.0.1"
    assert ingress("lb-1")[0]["ip"] == "127.1.0.2"
    assert not ingress("plain")


async def test_a_restarted_simulator_keeps_addresses_and_finishes_the_work(async_envtest: EnvTest) -> None:
    env = async_envtest
    async with WorkloadSimulator(env) as sim:
        env.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "default"},
                    "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 443}]}})
        await sim.wait_for(lambda: bool((_get(env, "v1", "Service", "lb").get("status") or {}).get("loadBalancer")))
    env.create(stateful_set("later", 2))
    async with WorkloadSimulator(env) as sim:
        env.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb2", "namespace": "default"},
                    "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 443}]}})
        await sim.wait_for(lambda: _status(env, "apps/v1", "StatefulSet", "later").get("readyReplicas") == 2)
        await sim.wait_for(lambda: bool((_get(env, "v1", "Service", "lb2").get("status") or {}).get("loadBalancer")))
        assert _get(env, "v1", "Service", "lb2")["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.1.0.2"
