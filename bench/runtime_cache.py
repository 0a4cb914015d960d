"""Cache sync time, memory and reconcile throughput of a manager watching 10 000 objects.

Prints one JSON line: {"objects": 10000, "sync_s": ..., "rss_mib": ..., "reconciles_per_s": ...}.
The API server (envtest) runs in a child process, so only the manager's own memory and time are measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from k0smotron_core.runtime import Manager, Request, Result, build_parser, options_from_args
from k0smotron_core.runtime._transport import ConnectionSettings, load_configuration


def _rss_mib() -> float:
    """Current resident set size of this process (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _populate(kubeconfig: Path, count: int) -> None:
    settings = ConnectionSettings.from_configuration(await load_configuration(str(kubeconfig)))
    connector = aiohttp.TCPConnector(ssl=settings.ssl_context, limit=48)
    async with aiohttp.ClientSession(connector=connector, headers=settings.headers) as session:
        url = f"{settings.host}/api/v1/namespaces/default/configmaps"
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                index = next_index
                next_index += 1
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"cm-{index:05d}", "labels": {"bench": "runtime"}},
                        "data": {"index": str(index), "payload": "x" * 200}}
                async with session.post(url, json=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"create failed: {response.status} {await response.text()}")

        await asyncio.gather(*(worker() for _ in range(48)))


async def _measure(kubeconfig: Path, count: int) -> dict[str, float | int]:
    args = build_parser("bench", "bench", {}).parse_args([
        "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
        "--concurrency", "10", "--kube-api-qps", "0"])
    manager = Manager(options_from_args(args, role="bench"))
    await manager.connect()
    reconciled = 0
    all_done = asyncio.Event()

    async def noop(_request: Request) -> Result:
        nonlocal reconciled
        reconciled += 1
        if reconciled >= count:
            all_done.set()
        return Result()

    await manager.controller("bench").reconciles(("v1", "ConfigMap")).complete(noop)
    rss_before = _rss_mib()
    started = time.perf_counter()
    run = asyncio.create_task(manager.run())
    await manager.cache.wait_for_sync()
    sync_s = time.perf_counter() - started
    await asyncio.wait_for(all_done.wait(), 300)
    reconcile_s = time.perf_counter() - started
    rss = _rss_mib()
    manager.stop()
    await run
    return {"objects": count, "sync_s": round(sync_s, 3), "rss_mib": round(rss, 1),
            "rss_growth_mib": round(rss - rss_before, 1), "reconciles_per_s": round(count / reconcile_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        kubeconfig = Path(scratch, "kubeconfig")
        server = subprocess.Popen([sys.executable, "-m", "k0smotron_core.envtest", "serve", "--kubeconfig",
                                   str(kubeconfig)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            server.stdout.readline()
            asyncio.run(_populate(kubeconfig, args.objects))
            result = asyncio.run(_measure(kubeconfig, args.objects))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
