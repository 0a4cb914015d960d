"""How long N hosted k0s control planes (StatefulSet + LoadBalancer Service + CA Secret each) take to have every
pod Ready and every child API server serving, in one process. Prints one JSON line.

    .venv/bin/python -m tests.envtest.workloads.bench_hosted_control_planes --clusters 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

from k0smotron_core import pki
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest.workloads import WorkloadSimulator, is_ready

from ._manifests import hosted_control_plane


async def main(clusters: int, algorithm: pki.KeyAlgorithm) -> dict[str, float | int | str]:
    started = time.perf_counter()
    cas = [pki.generate_ca("kubernetes", algorithm=algorithm) for _ in range(clusters)]
    ca_s = time.perf_counter() - started
    async with EnvTest() as env, WorkloadSimulator(env) as sim:
        t0 = time.perf_counter()
        for i, ca in enumerate(cas):
            for obj in hosted_control_plane(f"c{i}", ca, service_type="LoadBalancer"):
                env.create(obj)
        created_s = time.perf_counter() - t0

        def all_ready() -> bool:
            pods = env.store.objects(("", "pods"))
            return len(pods) == clusters and all(is_ready(p) for p in pods)

        await sim.wait_for(all_ready, timeout_s=300)
        ready_s = time.perf_counter() - t0
        assert len(sim.child_clusters) == clusters
        t1 = time.perf_counter()
    stopped_s = time.perf_counter() - t1
    assert not sim.child_clusters
    return {"bench": "hosted_control_planes", "clusters": clusters, "ca_algorithm": algorithm,
            "generate_cas_s": round(ca_s, 2), "create_objects_s": round(created_s, 2),
            "all_pods_ready_s": round(ready_s, 2), "stop_s": round(stopped_s, 2),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--ca-algorithm", choices=["rsa2048", "ecdsa-p256"], default="rsa2048")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.clusters, args.ca_algorithm))))
