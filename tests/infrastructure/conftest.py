"""The infrastructure provider's controllers (with the bootstrap provider's, which write the data they run) against a
simulated CAPI core, child clusters and simulated SSH hosts."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from k0smotron_core import ssh
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.envtest.hosts import NetnsHost, SimulatedHost
from k0smotron_core.runtime import Manager, ManagerOptions
from k0smotron_core.runtime._logging import configure_logging
from providers.bootstrap.main import _setup as setup_bootstrap
from providers.infrastructure import main as infrastructure_main
from providers.infrastructure.remotemachine import Options

from ._support import Host, cluster_objects, k0s_invocations, machine_objects, secret, ssh_key_pair

ROOT = Path(__file__).resolve().parents[2]

FAST = Options(timeouts=ssh.Timeouts(connect=5, command=60, overall=180), retry_base_s=0.2, retry_max_s=2.0,
               cleanup_attempts=3, pool_retry_s=1.0, wait_s=0.5)
"""Short retries so failure and recovery paths finish within a test."""


@dataclass
class Providers:
    capi: CAPIEnvironment
    bootstrap: Manager
    infrastructure: Manager
    logs: io.StringIO

    async def restart_infrastructure(self, options: Options = FAST) -> None:
        """Stop the infrastructure provider (as if its pod were killed) and start a new one."""
        self.infrastructure.stop()
        await self._infra_run
        self.infrastructure, self._infra_run = await _start_infrastructure(self.capi, options)

    _infra_run: asyncio.Task[int]


def _options(capi: CAPIEnvironment, agent: str) -> ManagerOptions:
    return ManagerOptions(kubeconfig=str(capi.kubeconfig), metrics_bind_address="0", health_probe_bind_address="0",
                          user_agent=agent, field_manager=agent)


async def _start_infrastructure(capi: CAPIEnvironment, options: Options) -> tuple[Manager, asyncio.Task[int]]:
    manager = Manager(_options(capi, "k0smotron-infrastructure"))
    await manager.connect()
    await infrastructure_main.setup(manager, options, concurrency=8)
    run = asyncio.create_task(manager.run())
    await manager.cache.wait_for_sync()
    return manager, run


@pytest_asyncio.fixture
async def providers(capi: CAPIEnvironment) -> AsyncIterator[Providers]:
    await install_manifests(capi.env, ROOT / "crds")
    await install_manifests(capi.env, ROOT / "tests" / "api" / "manifests" / "third-party-crds.yaml")
    logs = io.StringIO()
    configure_logging("json", "debug", stream=logs)
    bootstrap = Manager(_options(capi, "k0smotron-bootstrap"))
    await bootstrap.connect()
    await setup_bootstrap(bootstrap, argparse.Namespace(bootstrap_token_ttl=1800.0))
    bootstrap_run = asyncio.create_task(bootstrap.run())
    await bootstrap.cache.wait_for_sync()
    infrastructure, infra_run = await _start_infrastructure(capi, FAST)
    providers = Providers(capi, bootstrap, infrastructure, logs, infra_run)
    try:
        yield providers
    finally:
        providers.infrastructure.stop()
        bootstrap.stop()
        await providers._infra_run
        await bootstrap_run


async def start_flow(providers: Providers, host: Host, name: str = "remote-test-0", *, user: str = "root",
                     authorize: bool = True, child_host: str = "127.0.0.1", **overrides: Any) -> bytes:
    """The seed's objects for one machine on `host` (its SSH key authorized for `user`); returns the private key."""
    env = providers.capi.env
    private_key, public_key = ssh_key_pair()
    if authorize:
        host.authorize(public_key, user)
    env.create(secret("footloose-key", {"value": private_key}))
    for obj in cluster_objects():
        env.create(obj)
    await providers.capi.child_cluster("remote-test", host=child_host)
    for obj in machine_objects(name, host, **overrides):
        env.create(obj)
    return private_key


def installs(host: SimulatedHost | NetnsHost) -> int:
    """How often `k0s install` ran on the host."""
    return sum(1 for argv in k0s_invocations(host.sandbox.path("/var/log/k0s-sim.jsonl")) if argv[:1] == ["install"])
