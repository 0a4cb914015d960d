"""Objects and waits shared by the infrastructure provider's end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh

from k0smotron_core.dev._apply import Host
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext

NS = "default"
CAPI = "cluster.x-k8s.io/v1beta1"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta1"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta1"
K0S_VERSION = "v1.27.2+k0s.0"


def ssh_key_pair() -> tuple[bytes, str]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_private_key(), key.export_public_key().decode().strip()


def secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def cluster_objects(cluster: str = "remote-test") -> list[dict[str, Any]]:
    """The seed's Cluster and RemoteCluster (the control plane is the initialized-control-plane fixture)."""
    return [
        {"apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": cluster, "namespace": NS},
         "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "serviceDomain": "cluster.local",
                                     "services": {"cidrBlocks": ["10.128.0.0/12"]}},
                  "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteCluster", "name": cluster}}},
        {"apiVersion": INFRA, "kind": "RemoteCluster", "metadata": {"name": cluster, "namespace": NS}, "spec": {}},
    ]


def machine_objects(name: str, host: Host, *, cluster: str = "remote-test", key_secret: str = "footloose-key",
                    remote_machine_spec: dict[str, Any] | None = None,
                    worker_spec: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The seed's Machine + K0sWorkerConfig + RemoteMachine, pointed at `host` with its host key pinned."""
    spec = {"address": host.address, "port": host.port, "user": "root", "sshKeyRef": {"name": key_secret},
            "hostKeyFingerprint": host.host_key_fingerprint, **(remote_machine_spec or {})}
    return [
        {"apiVersion": CAPI, "kind": "Machine", "metadata": {"name": name, "namespace": NS},
         "spec": {"clusterName": cluster,
                  "bootstrap": {"configRef": {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfig", "name": name}},
                  "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteMachine", "name": name}}},
        {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfig", "metadata": {"name": name, "namespace": NS},
         "spec": {"version": K0S_VERSION, **(worker_spec or {})}},
        {"apiVersion": INFRA, "kind": "RemoteMachine", "metadata": {"name": name, "namespace": NS}, "spec": spec},
    ]


def get(env: EnvTest, api_version: str, kind: str, name: str, namespace: str = NS) -> dict[str, Any] | None:
    rt = env.resource_type(api_version, kind)
    return env.store.get(rt.group_resource, namespace if rt.namespaced else "", name)


def objects(env: EnvTest, api_version: str, kind: str, namespace: str = NS) -> list[dict[str, Any]]:
    rt = env.resource_type(api_version, kind)
    return list(env.store.objects(rt.group_resource, namespace if rt.namespaced else None))


def delete(env: EnvTest, api_version: str, kind: str, name: str, namespace: str = NS) -> None:
    rt = env.resource_type(api_version, kind)
    env.storage.delete(rt, namespace if rt.namespaced else "", name, DeleteOptions(),
                       RequestContext(field_manager="test"))


def patch(env: EnvTest, api_version: str, kind: str, name: str, body: dict[str, Any], namespace: str = NS) -> None:
    rt = env.resource_type(api_version, kind)
    env.storage.patch(rt, namespace if rt.namespaced else "", name, "application/merge-patch+json", body,
                      RequestContext(field_manager="test"))


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return {}


async def eventually(check: Callable[[], Any], timeout_s: float = 60.0, *, what: str = "",
                     explain: Callable[[], Any] | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; state: {explain()}" if explain is not None else ""
            raise AssertionError(f"not met in {timeout_s}s: {what}{detail}")
        await asyncio.sleep(0.1)


def k0s_invocations(log: Path) -> list[list[str]]:
    """The simulated k0s's invocation log on a host (argv after `k0s`)."""
    if not log.exists():
        return []
    return [json.loads(line)["argv"][1:] for line in log.read_text().splitlines() if line.strip()]
