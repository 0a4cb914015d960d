"""Throughput of the bootstrap provider: Machines from creation to `status.initialization.dataSecretCreated`.

Prints one JSON line: {"machines", "machines_per_s", "p50_s", "p99_s", "writes_per_machine", "rss_mib", "cpu_s"}.

The `k0smotron-bootstrap` binary runs as its own process (its peak RSS and CPU seconds are read from /proc); the
management and workload API servers (envtest) run in this process. The part CAPI's Machine controller plays
(owner reference and cluster-name label on each K0sWorkerConfig) is done when the objects are created, so the
figures are the bootstrap provider's alone. Writes are counted in both API servers' audit logs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _provider_process

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest._storage import RequestContext
from k0smotron_core.envtest._store import WatchEvent
from k0smotron_core.envtest.capi import CRDS_DIR, initialized_control_plane

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = "bench"
NS = "default"
USER_AGENT = "k0smotron-bootstrap"
BINARY = Path(sys.executable).parent / "k0smotron-bootstrap"


async def _wait_until_watching(env: EnvTest, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not env.audit.count(verb="watch", resource="k0sworkerconfigs", user_agent=USER_AGENT):
        if time.monotonic() > deadline:
            raise SystemExit("the bootstrap provider did not start watching")
        await asyncio.sleep(0.05)


async def _run(machines: int, concurrency: int) -> dict[str, Any]:
    async with EnvTest(name="management") as env:
        await install_manifests(env, CRDS_DIR)
        await install_manifests(env, ROOT / "crds")
        env.create({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                    "metadata": {"name": CLUSTER, "namespace": NS}, "spec": {}})
        child = await initialized_control_plane(env, cluster=CLUSTER, namespace=NS)
        # What CAPI's Cluster controller reports once the infrastructure cluster is ready.
        env.storage.patch(env.resource_type("cluster.x-k8s.io/v1beta1", "Cluster"), NS, CLUSTER,
                          "application/merge-patch+json",
                          {"status": {"infrastructureReady": True,
                                      "initialization": {"infrastructureProvisioned": True}}},
                          RequestContext(field_manager="bench"), subresource="status")
        done_at: dict[str, float] = {}

        def on_event(event: WatchEvent) -> None:
            if event.group_resource != ("bootstrap.cluster.x-k8s.io", "k0sworkerconfigs"):
                return
            status = event.object.get("status") or {}
            name = event.object["metadata"]["name"]
            if (status.get("initialization") or {}).get("dataSecretCreated") and name not in done_at:
                done_at[name] = time.perf_counter()

        env.store.add_listener(on_event)
        with tempfile.TemporaryDirectory() as scratch:
            kubeconfig = env.write_kubeconfig(Path(scratch, "kubeconfig"))
            provider = subprocess.Popen(  # noqa: ASYNC220 - started once; the bench measures the process itself
                [str(BINARY), "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0",
                 "--health-probe-bind-address", "0", "--kube-api-qps", "0", "--concurrency", str(concurrency),
                 "--log-level", os.environ.get("BENCH_LOG_LEVEL", "warning")],
                stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
            )
            try:
                await _wait_until_watching(env)
                audit_start = time.time()
                created_at = await _create_machines(env, machines)
                deadline = time.monotonic() + 600
                while len(done_at) < machines:
                    if time.monotonic() > deadline or provider.poll() is not None:
                        raise SystemExit(f"only {len(done_at)} of {machines} configs got their data")
                    await asyncio.sleep(0.05)
                rss, cpu = _provider_process.peak_rss_mib(provider.pid), _provider_process.cpu_s(provider.pid)
            finally:
                await _provider_process.stop(provider)
        writes = (env.audit.count(user_agent=USER_AGENT, writes_only=True, since=audit_start)
                  + child.env.audit.count(user_agent=USER_AGENT, writes_only=True, since=audit_start))
        await child.stop()
    latencies = sorted(done_at[name] - created_at[name] for name in created_at)
    span = max(done_at.values()) - min(created_at.values())
    return {
        "machines": machines,
        "machines_per_s": round(machines / span, 1),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "writes_per_machine": round(writes / machines, 2),
        "rss_mib": round(rss, 1),
        "cpu_s": round(cpu, 2),
    }


async def _create_machines(env: EnvTest, count: int) -> dict[str, float]:
    """Machines and their K0sWorkerConfigs as CAPI leaves them: owned by the Machine, labelled with the cluster."""
    machine_type = env.resource_type("cluster.x-k8s.io/v1beta1", "Machine")
    config_type = env.resource_type("bootstrap.cluster.x-k8s.io/v1beta1", "K0sWorkerConfig")
    context = RequestContext(field_manager="bench")
    created_at: dict[str, float] = {}
    labels = {"cluster.x-k8s.io/cluster-name": CLUSTER}
    for index in range(count):
        name = f"worker-{index:05d}"
        machine = env.storage.create(machine_type, NS, {
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": {"name": name, "labels": labels},
            "spec": {"clusterName": CLUSTER, "bootstrap": {"configRef": {
                "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfig", "name": name}},
                "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                      "kind": "RemoteMachine", "name": name}},
        }, context)
        created_at[name] = time.perf_counter()
        env.storage.create(config_type, NS, {
            "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfig",
            "metadata": {"name": name, "labels": labels, "ownerReferences": [{
                "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "name": name,
                "uid": machine["metadata"]["uid"], "controller": True}]},
            "spec": {"version": "v1.30.1+k0s.0", "preStartCommands": ["echo hello"]},
        }, context)
        if index % 50 == 0:
            await asyncio.sleep(0)
    return created_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10, help="the provider's --concurrency")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args.machines, args.concurrency))), flush=True)


if __name__ == "__main__":
    main()
