"""The bootstrap provider's controllers running against a simulated CAPI core and a child cluster."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.runtime import Manager, ManagerOptions
from k0smotron_core.runtime._logging import configure_logging
from providers.bootstrap.main import _setup

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Bootstrap:
    capi: CAPIEnvironment
    manager: Manager
    logs: io.StringIO


@pytest_asyncio.fixture
async def bootstrap(capi: CAPIEnvironment) -> AsyncIterator[Bootstrap]:
    await install_manifests(capi.env, ROOT / "crds")
    await install_manifests(capi.env, ROOT / "tests" / "api" / "manifests" / "third-party-crds.yaml")
    logs = io.StringIO()
    configure_logging("json", "debug", stream=logs)
    manager = Manager(ManagerOptions(kubeconfig=str(capi.kubeconfig), metrics_bind_address="0",
                                     health_probe_bind_address="0", user_agent="k0smotron-bootstrap",
                                     field_manager="k0smotron-bootstrap"))
    await manager.connect()
    await _setup(manager, argparse.Namespace(bootstrap_token_ttl=1800.0))
    run = asyncio.create_task(manager.run())
    await manager.cache.wait_for_sync()
    try:
        yield Bootstrap(capi, manager, logs)
    finally:
        manager.stop()
        await run
