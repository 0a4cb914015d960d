"""pytest fixtures for provider tests against a simulated CAPI core.
Enable with `pytest_plugins = ["k0smotron_core.envtest.capi.pytest_plugin"]` (needs pytest-asyncio).

- `capi`: a `CAPIEnvironment` — management envtest with the CAPI CRDs, the simulator running against it.
- `child_cluster`: a factory `await child_cluster("my-cluster", namespace="default") -> ChildCluster` that starts a
  child API server for an existing Cluster, publishes `<cluster>-ca` and `<cluster>-kubeconfig`, and marks the
  Cluster's control plane initialized. Child servers stop with the `capi` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio

from ._child import ChildCluster
from ._environment import CAPIEnvironment, capi_environment

ChildClusterFactory = Callable[..., Awaitable[ChildCluster]]


@pytest_asyncio.fixture
async def capi(tmp_path: Path) -> AsyncIterator[CAPIEnvironment]:
    async with capi_environment(kubeconfig_dir=tmp_path) as environment:
        yield environment


@pytest_asyncio.fixture
async def child_cluster(capi: CAPIEnvironment) -> ChildClusterFactory:
    return capi.child_cluster
