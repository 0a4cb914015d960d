"""k0s controller pods of a hosted control plane serve a child API server with the cluster CA, where the Service in
front of them exposes the `api` port; kubectl sees the management side as on a real cluster."""

from __future__ import annotations

import asyncio
import copy
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

from k0smotron_core import pki
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext
from k0smotron_core.envtest.workloads import WorkloadSimulator, is_ready

from .._kube import KUBECTL
from ._manifests import hosted_control_plane, stateful_set

Obj = dict[str, Any]
_TIMEOUT = aiohttp.ClientTimeout(total=10)


def _create_all(env: EnvTest, objects: list[Obj]) -> None:
    for obj in objects:
        env.create(obj)


def _service(env: EnvTest, name: str) -> Obj:
    svc = env.get("v1", "Service", name, "default")
    assert svc is not None
    return svc


async def _get_as_client_of(ca: pki.KeyPair, url: str, tmp_path: Path) -> tuple[int, Obj]:
    """GET `url` with a client certificate of an admin signed by `ca`, trusting `ca` alone."""
    client = pki.issue_certificate(ca, "kubernetes-admin", usage="client", organizations=["system:masters"],
                                   algorithm="ecdsa-p256")
    cert, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    cert.write_bytes(client.cert_pem)
    key.write_bytes(client.key_pem)
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    context.load_cert_chain(cert, key)
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session, session.get(url, ssl=context) as response:
        return response.status, await response.json()


async def test_a_k0s_stateful_set_behind_a_node_port_serves_a_child_api_with_the_cluster_ca(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair, tmp_path: Path
) -> None:
    env = async_envtest
    _create_all(env, hosted_control_plane("alpha", cluster_ca, service_type="NodePort"))
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "kmc-alpha-0", "default") or {"metadata": {}}))

    child = sim.child_clusters[("default", "kmc-alpha")]
    node_port = next(p["nodePort"] for p in _service(env, "kmc-alpha")["spec"]["ports"] if p["name"] == "api")
    assert (child.host, child.port) == ("127.0.0.1", node_port)
    assert child.ca.cert_pem == cluster_ca.cert_pem
    status, namespaces = await _get_as_client_of(cluster_ca, f"https://127.0.0.1:{node_port}/api/v1/namespaces",
                                                 tmp_path)
    assert status == 200
    assert "kube-system" in {ns["metadata"]["name"] for ns in namespaces["items"]}
    assert child.serving is not None
    sans = child.serving.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert {"kmc-alpha", "kmc-alpha.default.svc", "kmc-alpha.default.svc.cluster.local"} <= set(sans)

    # Scaling to zero stops the child API server.
    sts = copy.deepcopy(env.get("apps/v1", "StatefulSet", "kmc-alpha", "default"))
    assert sts is not None
    sts["spec"]["replicas"] = 0
    env.storage.update(env.resource_type("apps/v1", "StatefulSet"), "default", "kmc-alpha", sts, RequestContext())
    await sim.wait_for(lambda: ("default", "kmc-alpha") not in sim.child_clusters)
    await sim.wait_for(lambda: env.get("v1", "Pod", "kmc-alpha-0", "default") is None)
    with_refusal = False
    try:
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node_port), 2)
    except OSError:
        with_refusal = True
    assert with_refusal


async def test_a_k0s_pod_waits_for_its_service_and_then_serves_on_the_load_balancer_address(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair, tmp_path: Path
) -> None:
    env = async_envtest
    secret, service, sts = hosted_control_plane("beta", cluster_ca, service_type="LoadBalancer", replicas=2)
    env.create(secret)
    env.create(sts)
    await sim.wait_for(lambda: env.get("v1", "Pod", "kmc-beta-0", "default") is not None
                       and bool(env.get("v1", "Pod", "kmc-beta-0", "default")["spec"].get("nodeName")))  # type: ignore[index]
    await asyncio.sleep(0.1)
    assert not is_ready(env.get("v1", "Pod", "kmc-beta-0", "default"))  # type: ignore[arg-type]
    assert not sim.child_clusters

    env.create(service)
    await sim.wait_for(lambda: (env.get("apps/v1", "StatefulSet", "kmc-beta", "default") or {}).get(
        "status", {}).get("readyReplicas") == 2)
    ip = _service(env, "kmc-beta")["status"]["loadBalancer"]["ingress"][0]["ip"]
    child = sim.child_clusters[("default", "kmc-beta")]
    assert (child.host, child.port) == (ip, 30443)
    status, _ = await _get_as_client_of(cluster_ca, f"https://{ip}:30443/version", tmp_path)
    assert status == 200

    # One of the pods going (and coming back) leaves the child API server running.
    env.storage.delete(env.resource_type("v1", "Pod"), "default", "kmc-beta-1", DeleteOptions(), RequestContext())
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "kmc-beta-1", "default") or {"metadata": {}}))
    assert sim.child_clusters[("default", "kmc-beta")] is child
    status, _ = await _get_as_client_of(cluster_ca, f"https://{ip}:30443/version", tmp_path)
    assert status == 200


async def test_k0s_pods_behind_a_cluster_ip_serve_on_the_node_address_and_etcd_pods_are_generic(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair, tmp_path: Path
) -> None:
    env = async_envtest
    _create_all(env, hosted_control_plane("gamma", cluster_ca, service_type="ClusterIP", api_port=31999))
    env.create(stateful_set("kmc-gamma-etcd", 1, image="quay.io/k0sproject/etcd:v3.5.13", claims=True))
    await sim.wait_for(lambda: ("default", "kmc-gamma") in sim.child_clusters)
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "kmc-gamma-etcd-0", "default") or {"metadata": {}}))
    assert list(sim.child_clusters) == [("default", "kmc-gamma")]
    child = sim.child_clusters[("default", "kmc-gamma")]
    assert (child.host, child.port) == ("127.0.0.1", 31999)
    status, _ = await _get_as_client_of(cluster_ca, "https://127.0.0.1:31999/version", tmp_path)
    assert status == 200


async def test_kubectl_lists_the_simulated_pods_and_stateful_sets(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair, tmp_path: Path
) -> None:
    env = async_envtest
    _create_all(env, hosted_control_plane("delta", cluster_ca, service_type="NodePort"))
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "kmc-delta-0", "default") or {"metadata": {}}))
    kubeconfig = env.write_kubeconfig(tmp_path / "kubeconfig")
    process = await asyncio.create_subprocess_exec(
        str(KUBECTL), f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", "--request-timeout=10s",
        "get", "pods,sts", "-o", "wide", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    # The columns are those of envtest's server-side tables (Status, Node; Ready for StatefulSets).
    pod_line = next(line for line in text.splitlines() if line.startswith("pod/kmc-delta-0"))
    assert pod_line.split()[1:3] == ["Running", "sim-node-0"]
    sts_line = next(line for line in text.splitlines() if line.startswith("statefulset.apps/kmc-delta"))
    assert sts_line.split()[1] == "1"


async def test_deleting_the_control_plane_stateful_set_stops_its_child_api_server(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair
) -> None:
    env = async_envtest
    _create_all(env, hosted_control_plane("eps", cluster_ca, service_type="LoadBalancer", replicas=2))
    await sim.wait_for(lambda: (env.get("apps/v1", "StatefulSet", "kmc-eps", "default") or {}).get(
        "status", {}).get("readyReplicas") == 2)
    child = sim.child_clusters[("default", "kmc-eps")]
    env.storage.delete(env.resource_type("apps/v1", "StatefulSet"), "default", "kmc-eps",
                       DeleteOptions(propagation_policy="Background"), RequestContext())
    await sim.wait_for(lambda: not sim.child_clusters)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(child.host, child.port), 2)
    except OSError:
        return
    writer.close()
    raise AssertionError("the child API server still listens")


class _RecordingRuntime:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []

    async def start(self, pod: Obj) -> bool:
        self.started.append(pod["metadata"]["name"])
        return len(self.started) >= 2  # not ready the first time: asked again

    async def stop(self, pod: Obj) -> None:
        self.stopped.append(pod["metadata"]["name"])


async def test_a_registered_runtime_runs_the_pods_of_its_image(
    async_envtest: EnvTest, sim: WorkloadSimulator
) -> None:
    env = async_envtest
    runtime = _RecordingRuntime()
    sim.register_runtime("registry.example/app", runtime)
    env.create(stateful_set("custom", 1, image="registry.example/app:1.0"))
    env.create(stateful_set("other", 1, image="registry.example/application:1.0"))
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "custom-0", "default") or {"metadata": {}}), 5)
    await sim.wait_for(lambda: is_ready(env.get("v1", "Pod", "other-0", "default") or {"metadata": {}}), 5)
    assert runtime.started == ["custom-0", "custom-0"]
    env.storage.delete(env.resource_type("v1", "Pod"), "default", "custom-0", DeleteOptions(), RequestContext())
    await sim.wait_for(lambda: runtime.stopped == ["custom-0"])


async def test_a_k0s_pod_deleted_while_its_api_server_starts_leaves_nothing_running(
    async_envtest: EnvTest, sim: WorkloadSimulator, cluster_ca: pki.KeyPair
) -> None:
    env = async_envtest
    secret, service, sts = hosted_control_plane("zeta", cluster_ca, service_type="NodePort")
    env.create(secret)
    env.create(service)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lone-k0s", "namespace": "default",
                                                           "labels": sts["spec"]["template"]["metadata"]["labels"]},
           "spec": sts["spec"]["template"]["spec"]}
    env.create(pod)
    # Delete it as soon as the kubelet has bound it, which is when its runtime starts.
    await sim.wait_for(lambda: bool((env.get("v1", "Pod", "lone-k0s", "default") or {"spec": {}})["spec"].get(
        "nodeName")))
    env.storage.delete(env.resource_type("v1", "Pod"), "default", "lone-k0s", DeleteOptions(), RequestContext())
    await asyncio.sleep(0.3)
    assert not sim.child_clusters
    node_port = next(p["nodePort"] for p in _service(env, "kmc-zeta")["spec"]["ports"] if p["name"] == "api")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node_port), 2)
    except OSError:
        return
    writer.close()
    raise AssertionError("an API server was left running")
