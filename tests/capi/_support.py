"""Shared pieces of the simulator tests: provider CRDs, object builders, waiting for the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._install import install_manifests

CAPI = "cluster.x-k8s.io/v1beta1"
INFRA = "infrastructure.cluster.x-k8s.io/v1alpha1"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta1"
ROOT = Path(__file__).parents[2]
FAKE_INFRA_CRDS = Path(__file__).parent / "manifests" / "fake-infrastructure.yaml"
WORKER_CONFIG_CRDS = (ROOT / "crds" / "bootstrap.cluster.x-k8s.io_k0sworkerconfigs.yaml",
                      ROOT / "crds" / "bootstrap.cluster.x-k8s.io_k0sworkerconfigtemplates.yaml")

Obj = dict[str, Any]


async def install_provider_crds(env: EnvTest, *, bootstrap: bool = True) -> None:
    await install_manifests(env, FAKE_INFRA_CRDS)
    if bootstrap:
        for path in WORKER_CONFIG_CRDS:
            await install_manifests(env, path)


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll until `check()` returns something truthy (and return it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s")
        await asyncio.sleep(0.02)


def ref(api_version: str, kind: str, name: str) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": "default"}


def cluster(name: str, *, infra: str | None = None) -> Obj:
    spec: Obj = {}
    if infra:
        spec["infrastructureRef"] = ref(INFRA, "FakeCluster", infra)
    return {"apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def fake(kind: str, name: str, spec: Obj | None = None) -> Obj:
    return {"apiVersion": INFRA, "kind": kind, "metadata": {"name": name, "namespace": "default"},
            "spec": spec or {}}


def machine(name: str, cluster_name: str, *, config: str | None, infra: str) -> Obj:
    bootstrap: Obj = {"configRef": ref(BOOTSTRAP, "K0sWorkerConfig", config)} if config else {"dataSecretName": "x"}
    return {"apiVersion": CAPI, "kind": "Machine", "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterName": cluster_name, "bootstrap": bootstrap,
                     "infrastructureRef": ref(INFRA, "FakeMachine", infra)}}


def worker_config(name: str) -> Obj:
    return {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfig", "metadata": {"name": name, "namespace": "default"},
            "spec": {"version": "v1.31.1+k0s.0"}}


def get(env: EnvTest, api_version: str, kind: str, name: str) -> Obj | None:
    return env.get(api_version, kind, name, "default")


def status_of(env: EnvTest, api_version: str, kind: str, name: str) -> Obj:
    obj = get(env, api_version, kind, name)
    return (obj or {}).get("status") or {}


def condition(obj: Obj | None, condition_type: str) -> str | None:
    for found in ((obj or {}).get("status") or {}).get("conditions") or ():
        if found["type"] == condition_type:
            return str(found["status"])
    return None
