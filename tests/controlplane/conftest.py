"""Fixtures of the control plane controllers' tests (keep additive: one fixture per controller)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from k0smotron_core.api import capi as capi_api
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.runtime import CacheSelector, Manager, ManagerOptions
from k0smotron_core.runtime._logging import configure_logging
from k0smotron_core.runtime._workload import WorkloadClusters
from providers.controlplane import kmc

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KMCController:
    capi: CAPIEnvironment
    manager: Manager
    logs: io.StringIO


@pytest_asyncio.fixture
async def kmc_controller(capi: CAPIEnvironment) -> AsyncIterator[KMCController]:
    """The k0smotron.io Cluster controller alone, in-process, against a management envtest with our CRDs."""
    await install_manifests(capi.env, ROOT / "crds")
    logs = io.StringIO()
    configure_logging("json", "debug", stream=logs)
    manager = Manager(ManagerOptions(kubeconfig=str(capi.kubeconfig), metrics_bind_address="0",
                                     health_probe_bind_address="0", user_agent="k0smotron-controlplane",
                                     field_manager="k0smotron-controlplane"))
    await manager.connect()
    # As the binaries do: only CAPI Secrets are cached, the rest is read from the server.
    manager.cache.options.by_kind[("v1", "Secret")] = CacheSelector(label_selector=capi_api.CLUSTER_NAME_LABEL)
    workloads = WorkloadClusters(manager.client, user_agent="k0smotron-controlplane")
    await kmc.setup(manager, workloads=workloads)
    run = asyncio.create_task(manager.run())
    await manager.cache.wait_for_sync()
    try:
        yield KMCController(capi, manager, logs)
    finally:
        manager.stop()
        await run
        await workloads.close()
