"""pytest fixtures for simulated hosts. Enable with `pytest_plugins = ["k0smotron_core.envtest.hosts.pytest_plugin"]`
(needs pytest-asyncio). Both skip the test, with the reason, where hosts cannot run (not root, tools missing).

- `simulated_host`: a factory `await simulated_host("h1", users=["k0s"]) -> SimulatedHost` (in-process SSH server on
  127.0.0.1); every host it made is powered off at teardown.
- `netns_hosts`: a factory `await netns_hosts("h1", users=[...]) -> NetnsHost` (real sshd in a network namespace) on
  one `NetnsNetwork` per test (`netns_hosts.network`, e.g. for its `gateway`); `await netns_hosts.many(names)` boots
  several at once. The network and its hosts are removed at teardown, also when the test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from ._inprocess import SimulatedHost
from ._netns import NetnsHost, NetnsNetwork, netns_unavailable
from ._sandbox import HostUser, sandbox_unavailable


class SimulatedHostFactory:
    """Makes in-process hosts with sandboxes under one directory; `close()` powers them all off."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        self.hosts: list[SimulatedHost] = []

    async def __call__(
        self,
        name: str = "h1",
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
    ) -> SimulatedHost:
        host = await SimulatedHost.create(name, self.root_dir / name, users=users, files=files)
        self.hosts.append(host)
        return host

    async def close(self) -> None:
        for host in self.hosts:
            await host.close()


class NetnsHostFactory:
    """Boots hosts on one NetnsNetwork."""

    def __init__(self, network: NetnsNetwork) -> None:
        self.network = network

    async def __call__(
        self,
        name: str = "h1",
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
    ) -> NetnsHost:
        return await self.network.add_host(name, users=users, files=files)

    async def many(
        self,
        names: Sequence[str],
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
    ) -> list[NetnsHost]:
        return await self.network.add_hosts(names, users=users, files=files)


@pytest_asyncio.fixture
async def simulated_host(tmp_path: Path) -> AsyncIterator[SimulatedHostFactory]:
    reason = sandbox_unavailable()
    if reason is not None:
        pytest.skip(reason)
    factory = SimulatedHostFactory(tmp_path / "simulated-hosts")
    try:
        yield factory
    finally:
        await factory.close()


@pytest_asyncio.fixture
async def netns_hosts(tmp_path: Path) -> AsyncIterator[NetnsHostFactory]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    network = await NetnsNetwork.create(tmp_path / "netns-hosts")
    try:
        yield NetnsHostFactory(network)
    finally:
        await network.close()
