"""The seed's RemoteMachine flow end to end: Cluster + RemoteCluster + Machine + K0sWorkerConfig + RemoteMachine with
an SSH key Secret, provisioned over SSH onto a simulated host whose k0s joins the child cluster."""

from __future__ import annotations

from k0smotron_core.envtest.hosts.pytest_plugin import NetnsHostFactory, SimulatedHostFactory

from ._support import (
    CAPI,
    INFRA,
    NS,
    condition,
    delete,
    eventually,
    get,
    k0s_invocations,
    objects,
)
from .conftest import Providers, installs, start_flow


class TestTheSeedRemoteMachine:
    async def test_joins_the_child_cluster_and_the_machine_runs_with_its_node(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host("remote-test-0")
        await start_flow(providers, host)
        env = providers.capi.env
        remote_cluster = await eventually(
            lambda: condition(get(env, INFRA, "RemoteCluster", "remote-test"), "Ready").get("status") == "True",
            what="RemoteCluster Ready")
        assert remote_cluster
        machine = await eventually(
            lambda: (m := get(env, CAPI, "Machine", "remote-test-0")) and (m.get("status") or {}).get(
                "phase") == "Running" and m["status"].get("nodeRef") and m,
            what="Machine Running with nodeRef",
            explain=lambda: (get(env, INFRA, "RemoteMachine", "remote-test-0") or {}).get("status"))
        provider_id = f"remote-machine://{host.address}:{host.port}"
        assert machine["spec"]["providerID"] == provider_id
        remote_machine = get(env, INFRA, "RemoteMachine", "remote-test-0")
        assert remote_machine is not None
        assert remote_machine["spec"]["providerID"] == provider_id
        assert remote_machine["status"]["ready"] is True
        assert remote_machine["status"]["initialization"] == {"provisioned": True}
        assert remote_machine["status"]["addresses"] == [{"type": "ExternalIP", "address": host.address}]
        assert remote_machine["status"]["hostKeyFingerprint"] == host.host_key_fingerprint
        assert condition(remote_machine, "BootstrapExecSucceeded")["status"] == "True"
        assert condition(remote_machine, "HostKeyVerified")["status"] == "True"
        child = providers.capi.child_clusters.get(NS, "remote-test")
        assert child is not None
        node = get(child.env, "v1", "Node", machine["status"]["nodeRef"]["name"], "")
        assert node is not None
        assert node["spec"]["providerID"] == provider_id
        assert node["metadata"]["labels"]["k0smotron.io/machine-name"] == "remote-test-0"
        assert host.sandbox.path("/run/cluster-api/bootstrap-success.complete").exists()
        assert installs(host) == 1

    async def test_no_key_or_join_token_reaches_the_logs_or_events(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host("remote-test-0")
        private_key = await start_flow(providers, host)
        env = providers.capi.env
        await eventually(lambda: (m := get(env, CAPI, "Machine", "remote-test-0")) and (
            m.get("status") or {}).get("nodeRef"), what="Machine with nodeRef")
        join_token = host.sandbox.path("/etc/k0s.token").read_text().strip()
        assert len(join_token) > 100
        delete(env, CAPI, "Machine", "remote-test-0")
        await eventually(lambda: get(env, CAPI, "Machine", "remote-test-0") is None, what="Machine gone")
        logs = providers.logs.getvalue()
        assert "node providerID set" in logs
        events = " ".join(e.get("message", "") for e in objects(env, "v1", "Event"))
        key_line = private_key.decode().splitlines()[1]
        for secret_text in (join_token, key_line):
            assert secret_text not in logs and secret_text not in events

    async def test_deleting_the_machine_cleans_the_host_and_removes_the_node(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host("remote-test-0")
        await start_flow(providers, host)
        env = providers.capi.env
        machine = await eventually(lambda: (m := get(env, CAPI, "Machine", "remote-test-0")) and (
            m.get("status") or {}).get("nodeRef") and m, what="Machine with nodeRef")
        child = providers.capi.child_clusters.get(NS, "remote-test")
        assert child is not None
        delete(env, CAPI, "Machine", "remote-test-0")
        await eventually(lambda: get(env, CAPI, "Machine", "remote-test-0") is None, what="Machine gone")
        assert get(env, INFRA, "RemoteMachine", "remote-test-0") is None
        assert get(child.env, "v1", "Node", machine["status"]["nodeRef"]["name"], "") is None
        calls = k0s_invocations(host.sandbox.path("/var/log/k0s-sim.jsonl"))
        assert ["stop"] in calls and ["reset"] in calls
        assert calls.index(["stop"]) < calls.index(["reset"])
        assert not host.sandbox.path("/var/lib/k0s").exists() or not any(host.sandbox.path("/var/lib/k0s").iterdir())
        events = [e for e in objects(env, "v1", "Event") if e["involvedObject"]["name"] == "remote-test-0"]
        assert any(e["reason"] == "HostCleanedUp" for e in events)


class TestTheSeedRemoteMachineOnOpenSSH:
    async def test_joins_through_a_real_sshd_in_a_network_namespace_and_is_cleaned_on_delete(
            self, providers: Providers, netns_hosts: NetnsHostFactory) -> None:
        host = await netns_hosts("remote-test-0")
        await start_flow(providers, host, child_host=netns_hosts.network.gateway)
        env = providers.capi.env
        machine = await eventually(
            lambda: (m := get(env, CAPI, "Machine", "remote-test-0")) and (m.get("status") or {}).get(
                "phase") == "Running" and m["status"].get("nodeRef") and m,
            90, what="Machine Running with nodeRef",
            explain=lambda: condition(get(env, INFRA, "RemoteMachine", "remote-test-0"), "BootstrapExecSucceeded"))
        assert machine["spec"]["providerID"] == f"remote-machine://{host.address}:22"
        child = providers.capi.child_clusters.get(NS, "remote-test")
        assert child is not None
        node = get(child.env, "v1", "Node", "remote-test-0", "")
        assert node is not None and node["spec"]["providerID"] == machine["spec"]["providerID"]
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert {"type": "InternalIP", "address": host.address} in node["status"]["addresses"]
        assert installs(host) == 1

        delete(env, CAPI, "Machine", "remote-test-0")
        await eventually(lambda: get(env, CAPI, "Machine", "remote-test-0") is None, 60, what="Machine gone")
        assert get(child.env, "v1", "Node", "remote-test-0", "") is None
        calls = k0s_invocations(host.sandbox.path("/var/log/k0s-sim.jsonl"))
        assert ["stop"] in calls and ["reset"] in calls
