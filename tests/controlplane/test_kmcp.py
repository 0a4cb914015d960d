"""K0smotronControlPlane end to end: the seed's hosted control plane in a management cluster with the workload
simulation, its contract status, scaling through the scale subresource, join tokens and teardown."""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import itertools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from ruamel.yaml import YAML

from k0smotron_core import tokens
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.envtest.hosts.pytest_plugin import SimulatedHostFactory
from k0smotron_core.envtest.workloads import WorkloadSimulator
from k0smotron_core.runtime import Manager, ManagerOptions
from k0smotron_core.runtime._logging import configure_logging
from providers.controlplane.main import _setup as setup_controlplane
from providers.infrastructure import main as infrastructure_main
from providers.infrastructure.remotemachine import Options

from ..infrastructure._support import (
    CAPI,
    INFRA,
    NS,
    condition,
    delete,
    eventually,
    get,
    objects,
)

ROOT = Path(__file__).resolve().parents[2]
CONTROLPLANE = "controlplane.cluster.x-k8s.io/v1beta1"
K0SMOTRON = "k0smotron.io/v1beta1"
NAME = "remote-test"


@dataclass
class HostedControlPlane:
    capi: CAPIEnvironment
    workloads: WorkloadSimulator
    logs: io.StringIO


async def _manager(capi: CAPIEnvironment, agent: str) -> Manager:
    manager = Manager(ManagerOptions(kubeconfig=str(capi.kubeconfig), metrics_bind_address="0",
                                     health_probe_bind_address="0", user_agent=agent, field_manager=agent))
    await manager.connect()
    return manager


@pytest_asyncio.fixture
async def hosted(capi: CAPIEnvironment) -> AsyncIterator[HostedControlPlane]:
    await install_manifests(capi.env, ROOT / "crds")
    logs = io.StringIO()
    configure_logging("json", "debug", stream=logs)
    async with WorkloadSimulator(capi.env, node_address="127.0.0.1") as workloads:
        controlplane = await _manager(capi, "k0smotron-controlplane")
        await setup_controlplane(controlplane, argparse.Namespace())
        infrastructure = await _manager(capi, "k0smotron-infrastructure")
        await infrastructure_main.setup(infrastructure, Options())
        runs = [asyncio.create_task(controlplane.run()), asyncio.create_task(infrastructure.run())]
        try:
            yield HostedControlPlane(capi, workloads, logs)
        finally:
            controlplane.stop()
            infrastructure.stop()
            await asyncio.gather(*runs)


def seed(api_port: int = 30443, replicas: int | None = None, **spec: Any) -> list[dict[str, Any]]:
    """The seed's Cluster + K0smotronControlPlane (NodePort, emptyDir) + RemoteCluster."""
    kmcp_spec: dict[str, Any] = {"version": "v1.27.2-k0s.0", "persistence": {"type": "emptyDir"},
                                 "service": {"type": "NodePort", "apiPort": api_port,
                                             "konnectivityPort": api_port + 1}, **spec}
    if replicas is not None:
        kmcp_spec["replicas"] = replicas
    return [
        {"apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": NAME, "namespace": NS},
         "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "serviceDomain": "cluster.local",
                                     "services": {"cidrBlocks": ["10.128.0.0/12"]}},
                  "controlPlaneRef": {"apiVersion": CONTROLPLANE, "kind": "K0smotronControlPlane", "name": NAME},
                  "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteCluster", "name": NAME}}},
        {"apiVersion": CONTROLPLANE, "kind": "K0smotronControlPlane", "metadata": {"name": NAME, "namespace": NS},
         "spec": kmcp_spec},
        {"apiVersion": INFRA, "kind": "RemoteCluster", "metadata": {"name": NAME, "namespace": NS}, "spec": {}},
    ]


def kmcp(h: HostedControlPlane) -> dict[str, Any]:
    return get(h.capi.env, CONTROLPLANE, "K0smotronControlPlane", NAME) or {}


def available(h: HostedControlPlane) -> bool:
    return condition(kmcp(h), "Available").get("status") == "True"


def explain(h: HostedControlPlane) -> Any:
    return {"kmcp": (kmcp(h).get("status") or {}).get("conditions"),
            "kmc": ((get(h.capi.env, K0SMOTRON, "Cluster", NAME) or {}).get("status") or {}).get("conditions")}


async def bring_up(h: HostedControlPlane, **kwargs: Any) -> None:
    for obj in seed(**kwargs):
        h.capi.env.create(obj)
    await eventually(lambda: available(h), 60, what="K0smotronControlPlane Available", explain=lambda: explain(h))


async def kubectl(h: HostedControlPlane, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "kubectl"), "--kubeconfig", str(h.capi.kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


def statefulset(h: HostedControlPlane, name: str) -> dict[str, Any]:
    return get(h.capi.env, "apps/v1", "StatefulSet", name) or {}


class TestTheSeedHostedControlPlane:
    async def test_becomes_available_and_publishes_the_contract_status_and_the_endpoint(
            self, hosted: HostedControlPlane) -> None:
        await bring_up(hosted)
        env = hosted.capi.env
        status = kmcp(hosted)["status"]
        assert status["initialized"] is True and status["initialization"] == {"controlPlaneInitialized": True}
        assert status["ready"] is True and status["externalManagedControlPlane"] is True
        assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (1, 1, 1)
        assert status["unavailableReplicas"] == 0
        assert status["version"] == "v1.27.2+k0s.0"
        assert status["selector"] == f"cluster.x-k8s.io/cluster-name={NAME},cluster.x-k8s.io/control-plane=true"
        endpoint = {"host": "127.0.0.1", "port": 30443}
        cluster = get(env, CAPI, "Cluster", NAME)
        assert cluster is not None and cluster["spec"]["controlPlaneEndpoint"] == endpoint
        remote_cluster = get(env, INFRA, "RemoteCluster", NAME)
        assert remote_cluster is not None and remote_cluster["spec"]["controlPlaneEndpoint"] == endpoint
        await eventually(lambda: (c := get(env, CAPI, "Cluster", NAME)) and (c.get("status") or {}).get(
            "phase") == "Provisioned" and condition(c, "ControlPlaneReady").get("status") == "True",
            30, what="Cluster Provisioned with its control plane ready")
        kmc = get(env, K0SMOTRON, "Cluster", NAME)
        assert kmc is not None
        assert kmc["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == NAME
        assert kmc["metadata"]["annotations"]["k0smotron.io/cluster-spec-hash"]
        owner = kmc["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("K0smotronControlPlane", NAME, False)
        network = kmc["spec"]["k0sConfig"]["spec"]["network"]
        assert network == {"podCIDR": "192.168.0.0/16", "serviceCIDR": "10.128.0.0/12",
                           "clusterDomain": "cluster.local"}
        assert "certificateRefs" not in (kmcp(hosted).get("spec") or {}), "the KMCP's own spec is not rewritten"

    async def test_the_kubeconfig_secret_reaches_the_child_api_and_no_pod_was_exec_ed(
            self, hosted: HostedControlPlane) -> None:
        await bring_up(hosted)
        secret = get(hosted.capi.env, "v1", "Secret", f"{NAME}-kubeconfig")
        assert secret is not None and secret["type"] == "cluster.x-k8s.io/secret"
        assert not [e for e in hosted.capi.env.audit.events() if e.subresource in ("exec", "attach")]
        config = YAML(typ="safe").load(base64.b64decode(secret["data"]["value"]))
        assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:30443"
        child = hosted.workloads.child_clusters[(NS, f"kmc-{NAME}")]
        assert child.port == 30443


class TestScaling:
    async def test_kubectl_scale_1_3_1_moves_the_statefulsets_and_the_status_and_etcd_never_shrinks(
            self, hosted: HostedControlPlane) -> None:
        await bring_up(hosted)
        etcd_sizes: list[int] = []

        def etcd_replicas() -> int:
            replicas = int((statefulset(hosted, f"kmc-{NAME}-etcd").get("spec") or {}).get("replicas") or 0)
            if not etcd_sizes or etcd_sizes[-1] != replicas:
                etcd_sizes.append(replicas)
            return replicas

        await kubectl(hosted, "scale", "k0smotroncontrolplane", NAME, "--replicas=3")
        await eventually(lambda: etcd_replicas() >= 0 and kmcp(hosted).get("status", {}).get("readyReplicas") == 3
                         and statefulset(hosted, f"kmc-{NAME}")["spec"]["replicas"] == 3, 60,
                         what="3 ready control plane replicas", explain=lambda: explain(hosted))
        await eventually(lambda: etcd_replicas() == 3 and statefulset(hosted, f"kmc-{NAME}-etcd").get(
            "status", {}).get("readyReplicas") == 3, 60, what="etcd at 3 members")
        assert etcd_sizes == sorted(etcd_sizes) and all(b - a <= 1 for a, b in itertools.pairwise(etcd_sizes))
        assert available(hosted)

        await kubectl(hosted, "scale", "k0smotroncontrolplane", NAME, "--replicas=1")
        await eventually(lambda: kmcp(hosted).get("status", {}).get("replicas") == 1
                         and statefulset(hosted, f"kmc-{NAME}")["spec"]["replicas"] == 1, 60,
                         what="back to 1 replica", explain=lambda: explain(hosted))
        assert etcd_replicas() == 3, "etcd is never shrunk below its quorum"
        assert kmcp(hosted)["status"]["readyReplicas"] == 1 and available(hosted)
        scale = await kubectl(hosted, "get", "k0smotroncontrolplane", NAME, "-o",
                              "jsonpath={.spec.replicas}/{.status.replicas}")
        assert scale == "1/1"


class TestJoinTokenRequests:
    async def test_a_token_authenticates_in_the_child_until_the_request_is_deleted(
            self, hosted: HostedControlPlane) -> None:
        await bring_up(hosted)
        env = hosted.capi.env
        env.create({"apiVersion": K0SMOTRON, "kind": "JoinTokenRequest", "metadata": {"name": "jtr", "namespace": NS},
                    "spec": {"clusterRef": {"name": NAME, "namespace": NS}, "role": "worker", "expiry": "1h"}})
        secret = await eventually(lambda: get(env, "v1", "Secret", "jtr"), 30, what="token Secret")
        assert secret["metadata"]["labels"]["k0smotron.io/role"] == "worker"
        assert secret["metadata"]["labels"]["app.kubernetes.io/component"] == "jointoken"
        join = tokens.decode_join_token(base64.b64decode(secret["data"]["token"]).decode())
        assert join.server == "https://127.0.0.1:30443"
        request = await eventually(lambda: (r := get(env, K0SMOTRON, "JoinTokenRequest", "jtr")) and (
            r.get("status") or {}).get("tokenID") and r, 30, what="tokenID in status")
        assert request["status"]["tokenID"] == join.token.token_id
        assert condition(request, "JoinTokenSecretCreated")["status"] == "True"
        assert await _authenticates(join.server, join.ca_pem, str(join.token)) == 200
        delete(env, K0SMOTRON, "JoinTokenRequest", "jtr")
        await eventually(lambda: get(env, K0SMOTRON, "JoinTokenRequest", "jtr") is None, 30, what="request gone")
        assert await _authenticates(join.server, join.ca_pem, str(join.token)) == 401


    async def test_a_simulated_host_joins_the_hosted_cluster_with_the_token(
            self, hosted: HostedControlPlane, simulated_host: SimulatedHostFactory) -> None:
        await bring_up(hosted)
        env = hosted.capi.env
        env.create({"apiVersion": K0SMOTRON, "kind": "JoinTokenRequest", "metadata": {"name": "jtr", "namespace": NS},
                    "spec": {"clusterRef": {"name": NAME, "namespace": NS}}})
        secret = await eventually(lambda: get(env, "v1", "Secret", "jtr"), 30, what="token Secret")
        host = await simulated_host("worker-0")
        await host.sandbox.write_file("/etc/k0s.token", base64.b64decode(secret["data"]["token"]), 0o600)
        result = await host.sandbox.run(
            "curl -sSfL https://get.k0s.sh | K0S_VERSION=v1.27.2+k0s.0 sh && "
            "k0s install worker --token-file /etc/k0s.token && k0s start", timeout=60)
        assert result.exit_status == 0, result.stderr.decode()
        child = hosted.workloads.child_clusters[(NS, f"kmc-{NAME}")]
        node = await eventually(lambda: get(child, "v1", "Node", "worker-0", ""), 30, what="Node worker-0")
        assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"


async def _authenticates(server: str, ca_pem: bytes, token: str) -> int:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    async with aiohttp.ClientSession() as session, session.get(
            f"{server}/api/v1/namespaces/kube-system", headers={"Authorization": f"Bearer {token}"}, ssl=context,
            timeout=aiohttp.ClientTimeout(total=10)) as response:
        return response.status


class TestTeardown:
    async def test_deleting_the_cluster_removes_everything_in_order(self, hosted: HostedControlPlane) -> None:
        await bring_up(hosted)
        env = hosted.capi.env
        delete(env, CAPI, "Cluster", NAME)
        await eventually(lambda: get(env, CAPI, "Cluster", NAME) is None, 60, what="Cluster gone",
                         explain=lambda: explain(hosted))
        leftovers = {kind: [o["metadata"]["name"] for o in objects(env, api_version, kind)]
                     for api_version, kind in (("apps/v1", "StatefulSet"), ("v1", "Service"), ("v1", "ConfigMap"),
                                               ("v1", "Pod"), (K0SMOTRON, "Cluster"),
                                               (CONTROLPLANE, "K0smotronControlPlane"))}
        leftovers["Secret"] = [s["metadata"]["name"] for s in objects(env, "v1", "Secret")
                               if s["metadata"]["name"].startswith(NAME)]
        leftovers["ConfigMap"] = [n for n in leftovers["ConfigMap"] if n != "kube-root-ca.crt"]
        assert all(not names for names in leftovers.values()), leftovers
        await eventually(lambda: not hosted.workloads.child_clusters, 30, what="child API server stopped")

