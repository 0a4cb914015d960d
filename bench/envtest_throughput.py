"""Throughput of the embedded API server, measured over HTTPS from a separate client process.

Prints one JSON line: {"get_per_s", "list_per_s", "create_per_s", "update_per_s", "watch_events_per_s", ...}.
The server runs as `python -m k0smotron_core.envtest serve` in a child process, so client and server do not share
an event loop (on a 2-core machine each gets roughly one core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from ruamel.yaml import YAML

NAMESPACE = "default"


def _start_server(kubeconfig: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "k0smotron_core.envtest", "serve", "--port", "0", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("https://"):
        process.kill()
        raise SystemExit(f"envtest did not start: {url!r}")
    return process, url


def _client_settings(kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    import base64

    config = YAML(typ="safe").load(kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    return token, ssl.create_default_context(cadata=ca)


async def _run_concurrently(count: int, concurrency: int, operation: Callable[[int], Awaitable[None]]) -> float:
    """Run operation(0..count-1) with at most `concurrency` in flight; returns operations per second."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            await operation(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def _measure(url: str, token: str, tls: ssl.SSLContext, count: int, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    base = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"
    connector = aiohttp.TCPConnector(ssl=tls, limit=concurrency + 16)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def request(method: str, target: str, body: Any = None, expect: int = 200) -> Any:
            async with session.request(method, target, data=None if body is None else json.dumps(body)) as response:
                payload = await response.json()
                if response.status != expect:
                    raise RuntimeError(f"{method} {target}: {response.status} {payload.get('message')}")
                return payload

        watchers = 10
        watch_counts = [0] * watchers
        watch_done = asyncio.Event()
        start_rv = (await request("GET", f"{base}?limit=1"))["metadata"]["resourceVersion"]

        async def watch(slot: int) -> None:
            target = f"{base}?watch=true&resourceVersion={start_rv}&timeoutSeconds=600"
            async with session.get(target) as response:
                async for _line in response.content:
                    watch_counts[slot] += 1
                    if sum(watch_counts) >= watchers * count:
                        watch_done.set()
                        return

        watch_tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
        await asyncio.sleep(0.2)
        watch_started = time.perf_counter()

        async def create(i: int) -> None:
            await request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
                                         "data": {"index": str(i)}}, expect=201)

        create_per_s = await _run_concurrently(count, concurrency, create)
        await asyncio.wait_for(watch_done.wait(), timeout=120)
        watch_events_per_s = watchers * count / (time.perf_counter() - watch_started)
        for task in watch_tasks:
            task.cancel()

        async def get(i: int) -> None:
            await request("GET", f"{base}/cm-{i % count}")

        get_per_s = await _run_concurrently(count * 2, concurrency, get)

        async def update(i: int) -> None:
            await request("PUT", f"{base}/cm-{i}", {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
                                                    "data": {"index": str(i), "updated": "yes"}})

        update_per_s = await _run_concurrently(count, concurrency, update)

        async def list_page(_i: int) -> None:
            await request("GET", f"{base}?limit=100&labelSelector=bench%3Dyes")

        list_per_s = await _run_concurrently(max(count // 4, 50), concurrency, list_page)

    return {
        "get_per_s": round(get_per_s, 1),
        "list_per_s": round(list_per_s, 1),
        "create_per_s": round(create_per_s, 1),
        "update_per_s": round(update_per_s, 1),
        "watch_events_per_s": round(watch_events_per_s, 1),
        "objects": count,
        "list_page_size": 100,
        "watchers": watchers,
        "concurrency": concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000, help="ConfigMaps to create, get and update")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        kubeconfig = Path(scratch, "kubeconfig")
        process, url = _start_server(kubeconfig)
        try:
            token, tls = _client_settings(kubeconfig)
            result = asyncio.run(_measure(url, token, tls, args.objects, args.concurrency))
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
