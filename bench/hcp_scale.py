"""Hosted control planes at scale: N Clusters with a K0smotronControlPlane each, until all are Available.

Prints one JSON line: {"clusters", "available_s", "rss_mib", "cpu_s", "p50_s", "max_s"}.

The `k0smotron-controlplane` binary runs as its own process; its peak RSS (VmHWM) and CPU seconds are read from
/proc. The management API server, the workload simulation (StatefulSets → Pods Ready, LoadBalancer addresses, and a
child API server per hosted cluster, started by its k0s pod) run in this process, so the figures are the provider's
alone. Each control plane uses a LoadBalancer Service (an address of its own on loopback) and the default etcd
storage. The part CAPI's Cluster controller plays for the control plane object (owner reference) is done when the
objects are created.
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
from k0smotron_core.envtest.capi import CRDS_DIR
from k0smotron_core.envtest.workloads import WorkloadSimulator

ROOT = Path(__file__).resolve().parents[1]
NS = "default"
USER_AGENT = "k0smotron-controlplane"
BINARY = Path(sys.executable).parent / "k0smotron-controlplane"
CAPI = "cluster.x-k8s.io/v1beta1"
CONTROLPLANE = "controlplane.cluster.x-k8s.io/v1beta1"


def _available(obj: dict[str, Any]) -> bool:
    for condition in ((obj.get("status") or {}).get("conditions") or ()):
        if condition.get("type") == "Available":
            return bool(condition.get("status") == "True")
    return False


def _create(env: EnvTest, count: int) -> dict[str, float]:
    cluster_type = env.resource_type(CAPI, "Cluster")
    kmcp_type = env.resource_type(CONTROLPLANE, "K0smotronControlPlane")
    context = RequestContext(field_manager="bench")
    created_at: dict[str, float] = {}
    for index in range(count):
        name = f"hcp-{index:03d}"
        cluster = env.storage.create(cluster_type, NS, {
            "apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": name},
            "spec": {"controlPlaneRef": {"apiVersion": CONTROLPLANE, "kind": "K0smotronControlPlane", "name": name}},
        }, context)
        env.storage.create(kmcp_type, NS, {
            "apiVersion": CONTROLPLANE, "kind": "K0smotronControlPlane",
            "metadata": {"name": name, "ownerReferences": [{
                "apiVersion": CAPI, "kind": "Cluster", "name": name, "uid": cluster["metadata"]["uid"]}]},
            "spec": {"version": "v1.27.2-k0s.0", "service": {"type": "LoadBalancer", "apiPort": 6443,
                                                             "konnectivityPort": 8132}},
        }, context)
        created_at[name] = time.perf_counter()
    return created_at


async def _run(clusters: int) -> dict[str, Any]:
    async with EnvTest(name="management") as env, WorkloadSimulator(env, node_address="127.0.0.1"):
        await install_manifests(env, CRDS_DIR)
        await install_manifests(env, ROOT / "crds")
        available_at: dict[str, float] = {}

        def on_event(event: WatchEvent) -> None:
            if event.group_resource != ("controlplane.cluster.x-k8s.io", "k0smotroncontrolplanes"):
                return
            name = event.object["metadata"]["name"]
            if name not in available_at and _available(event.object):
                available_at[name] = time.perf_counter()

        env.store.add_listener(on_event)
        with tempfile.TemporaryDirectory() as scratch:
            kubeconfig = env.write_kubeconfig(Path(scratch, "kubeconfig"))
            provider = subprocess.Popen(  # noqa: ASYNC220 - started once; the bench measures the process itself
                [str(BINARY), "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0",
                 "--health-probe-bind-address", "0", "--kube-api-qps", "0",
                 "--log-level", os.environ.get("BENCH_LOG_LEVEL", "warning")],
                stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 30
                while not env.audit.count(verb="watch", resource="k0smotroncontrolplanes", user_agent=USER_AGENT):
                    if time.monotonic() > deadline or provider.poll() is not None:
                        raise SystemExit("hcp_scale: the control plane provider did not start watching")
                    await asyncio.sleep(0.05)
                created_at = _create(env, clusters)
                deadline = time.monotonic() + 600
                while len(available_at) < clusters:
                    if time.monotonic() > deadline or provider.poll() is not None:
                        raise SystemExit(f"hcp_scale: only {len(available_at)} of {clusters} control planes became "
                                         "Available")
                    await asyncio.sleep(0.05)
                rss, cpu = _provider_process.peak_rss_mib(provider.pid), _provider_process.cpu_s(provider.pid)
            finally:
                await _provider_process.stop(provider)
    latencies = sorted(available_at[name] - created_at[name] for name in created_at)
    return {
        "clusters": clusters,
        "available_s": round(max(available_at.values()) - min(created_at.values()), 2),
        "rss_mib": round(rss, 1),
        "cpu_s": round(cpu, 2),
        "p50_s": round(statistics.median(latencies), 2),
        "max_s": round(latencies[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args.clusters))))


if __name__ == "__main__":
    main()
