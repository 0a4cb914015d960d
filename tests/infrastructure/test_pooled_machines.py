"""The pooled example: a MachineDeployment whose RemoteMachineTemplate names a pool of PooledRemoteMachines."""

from __future__ import annotations

from typing import Any

from k0smotron_core.envtest.hosts import SimulatedHost
from k0smotron_core.envtest.hosts.pytest_plugin import SimulatedHostFactory

from ._support import (
    BOOTSTRAP,
    CAPI,
    INFRA,
    K0S_VERSION,
    NS,
    cluster_objects,
    condition,
    eventually,
    k0s_invocations,
    objects,
    patch,
    secret,
    ssh_key_pair,
)
from .conftest import Providers, installs

LABELS = {"cluster.x-k8s.io/cluster-name": "remote-test", "pool": "workers"}


def deployment_objects(replicas: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": CAPI, "kind": "MachineDeployment", "metadata": {"name": "workers", "namespace": NS},
         "spec": {"replicas": replicas, "clusterName": "remote-test", "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS}, "spec": {
                      "clusterName": "remote-test",
                      "bootstrap": {"configRef": {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfigTemplate",
                                                  "name": "workers"}},
                      "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteMachineTemplate",
                                            "name": "remote-test-template"}}}}},
        {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfigTemplate", "metadata": {"name": "workers", "namespace": NS},
         "spec": {"template": {"spec": {"version": K0S_VERSION}}}},
        {"apiVersion": INFRA, "kind": "RemoteMachineTemplate",
         "metadata": {"name": "remote-test-template", "namespace": NS},
         "spec": {"template": {"spec": {"pool": "default"}}}},
    ]


async def add_pooled_machine(providers: Providers, host: SimulatedHost) -> None:
    private_key, public_key = ssh_key_pair()
    host.authorize(public_key)
    env = providers.capi.env
    env.create(secret(f"{host.name}-key", {"value": private_key}))
    env.create({"apiVersion": INFRA, "kind": "PooledRemoteMachine", "metadata": {"name": host.name, "namespace": NS},
                "spec": {"pool": "default", "machine": {
                    "address": host.address, "port": host.port, "user": "root",
                    "sshKeyRef": {"name": f"{host.name}-key"}, "hostKeyFingerprint": host.host_key_fingerprint}}})


def pooled(providers: Providers) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in objects(providers.capi.env, INFRA, "PooledRemoteMachine")}


def reserved(providers: Providers) -> set[str]:
    return {name for name, p in pooled(providers).items() if (p.get("status") or {}).get("reserved")}


def running_machines(providers: Providers) -> list[dict[str, Any]]:
    return [m for m in objects(providers.capi.env, CAPI, "Machine")
            if (m.get("status") or {}).get("phase") == "Running" and not m["metadata"].get("deletionTimestamp")]


def remote_machines(providers: Providers) -> list[dict[str, Any]]:
    return [rm for rm in objects(providers.capi.env, INFRA, "RemoteMachine")
            if not rm["metadata"].get("deletionTimestamp")]


async def test_a_deployment_takes_hosts_from_the_pool_waits_when_it_is_empty_and_returns_them_cleaned(
        providers: Providers, simulated_host: SimulatedHostFactory) -> None:
    env = providers.capi.env
    hosts = {f"pooled-{i}": await simulated_host(f"pooled-{i}") for i in range(5)}
    for name in ("pooled-0", "pooled-1", "pooled-2", "pooled-3"):
        await add_pooled_machine(providers, hosts[name])
    for obj in cluster_objects():
        env.create(obj)
    await providers.capi.child_cluster("remote-test")
    for obj in deployment_objects(3):
        env.create(obj)

    await eventually(lambda: len(running_machines(providers)) == 3, 90, what="3 Machines Running",
                     explain=lambda: [condition(rm, "BootstrapExecSucceeded") for rm in remote_machines(providers)])
    assert len(reserved(providers)) == 3
    for rm in remote_machines(providers):
        claimed = pooled(providers)[next(n for n, p in pooled(providers).items()
                                         if (p.get("status") or {}).get("machineRef", {}).get("name")
                                         == rm["metadata"]["name"])]
        assert rm["spec"]["address"] == claimed["spec"]["machine"]["address"]
        assert rm["spec"]["port"] == claimed["spec"]["machine"]["port"]
        assert rm["spec"]["sshKeyRef"] == claimed["spec"]["machine"]["sshKeyRef"]

    patch(env, CAPI, "MachineDeployment", "workers", {"spec": {"replicas": 5}})
    waiting = await eventually(
        lambda: [c for rm in remote_machines(providers)
                 if (c := condition(rm, "BootstrapExecSucceeded")).get("reason") == "WaitingForPooledMachine"],
        60, what="one RemoteMachine waiting for a pooled machine")
    assert len(waiting) == 1
    assert "all 4 machines of pool 'default' are reserved" in waiting[0]["message"]
    await eventually(lambda: len(running_machines(providers)) == 4, 60, what="4 Machines Running")

    await add_pooled_machine(providers, hosts["pooled-4"])
    await eventually(lambda: len(running_machines(providers)) == 5, 60, what="5 Machines Running")
    assert all(installs(host) == 1 for host in hosts.values())

    patch(env, CAPI, "MachineDeployment", "workers", {"spec": {"replicas": 1}})
    await eventually(lambda: len(reserved(providers)) == 1 and len(remote_machines(providers)) == 1, 90,
                     what="4 hosts back in the pool")
    for name, host in hosts.items():
        if name in reserved(providers):
            continue
        calls = k0s_invocations(host.sandbox.path("/var/log/k0s-sim.jsonl"))
        assert ["reset"] in calls, f"{name} was not reset"
        assert not host.sandbox.path("/etc/k0smotron/.k0smotron").exists() or not any(
            host.sandbox.path("/etc/k0smotron/.k0smotron").iterdir()), f"{name} still has provisioning records"
