"""Reserving pooled machines: atomic claims, stable claims, release, and what an exhausted pool says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi._connection import client_for
from k0smotron_core.runtime import Client
from providers.infrastructure import pool

from .conftest import ROOT

NS = "default"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta1"


@pytest_asyncio.fixture
async def client(async_envtest: EnvTest) -> AsyncIterator[Client]:
    await install_manifests(async_envtest, ROOT / "crds")
    client = client_for(async_envtest, user="pool-test")
    try:
        yield client
    finally:
        await client.transport.close()


def pooled(name: str, pool_name: str = "default", address: str = "198.18.0.10") -> dict[str, Any]:
    return {"apiVersion": INFRA, "kind": "PooledRemoteMachine", "metadata": {"name": name, "namespace": NS},
            "spec": {"pool": pool_name, "machine": {
                "address": address, "port": 2222, "user": "admin", "useSudo": True, "workingDir": "/opt/k0smotron",
                "customCleanUpCommands": ["k0s reset --debug"], "sshKeyRef": {"name": f"{name}-key"},
                "hostKeyFingerprint": "SHA256:" + "B" * 43, "hostKeyPolicy": "Pinned"}}}


def remote_machine(name: str, pool_name: str = "default") -> dict[str, Any]:
    return {"apiVersion": INFRA, "kind": "RemoteMachine", "metadata": {"name": name, "namespace": NS},
            "spec": {"pool": pool_name}}


class TestClaiming:
    async def test_two_concurrent_claims_on_one_free_machine_give_it_to_exactly_one(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        results = await asyncio.gather(*(pool.claim(client, remote_machine(f"rm-{i}")) for i in range(6)),
                                       return_exceptions=True)
        winners = [r for r in results if isinstance(r, dict)]
        losers = [r for r in results if isinstance(r, pool.NoFreePooledMachine)]
        assert len(winners) == 1 and len(losers) == 5
        live = await client.get_live(INFRA, "PooledRemoteMachine", "host-0", NS)
        assert live is not None
        assert live["status"] == {"reserved": True, "machineRef": winners[0]["status"]["machineRef"]}

    async def test_concurrent_claims_on_a_pool_take_distinct_machines(self, client: Client) -> None:
        for i in range(4):
            await client.create(pooled(f"host-{i}", address=f"198.18.0.{10 + i}"))
        claimed = await asyncio.gather(*(pool.claim(client, remote_machine(f"rm-{i}")) for i in range(4)))
        assert sorted(c["metadata"]["name"] for c in claimed) == [f"host-{i}" for i in range(4)]

    async def test_a_machine_already_reserved_for_the_remote_machine_is_returned_again(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        await client.create(pooled("host-1"))
        first = await pool.claim(client, remote_machine("rm-a"))
        again = await pool.claim(client, remote_machine("rm-a"))
        assert first["metadata"]["name"] == again["metadata"]["name"] == "host-0"

    async def test_only_machines_of_the_named_pool_are_claimed(self, client: Client) -> None:
        await client.create(pooled("other", pool_name="gpu"))
        with pytest.raises(pool.NoFreePooledMachine, match="pool 'default' has no machines"):
            await pool.claim(client, remote_machine("rm-a"))

    async def test_an_exhausted_pool_says_how_many_machines_are_reserved(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        await pool.claim(client, remote_machine("rm-a"))
        with pytest.raises(pool.NoFreePooledMachine, match="all 1 machines of pool 'default' are reserved"):
            await pool.claim(client, remote_machine("rm-b"))

    async def test_every_connection_and_cleanup_field_is_copied(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        claimed = await pool.claim(client, remote_machine("rm-a"))
        assert pool.connection_fields(claimed) == {
            "address": "198.18.0.10", "port": 2222, "user": "admin", "useSudo": True, "commandsAsScript": False,
            "workingDir": "/opt/k0smotron", "customCleanUpCommands": ["k0s reset --debug"],
            "sshKeyRef": {"name": "host-0-key"}, "hostKeyFingerprint": "SHA256:" + "B" * 43,
            "hostKeyPolicy": "Pinned"}


class TestReleasing:
    async def test_release_frees_the_machine_for_the_next_claim(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        await pool.claim(client, remote_machine("rm-a"))
        assert await pool.release(client, "rm-a", NS) == ["host-0"]
        live = await client.get_live(INFRA, "PooledRemoteMachine", "host-0", NS)
        assert live is not None and live["status"] == {"reserved": False}
        claimed = await pool.claim(client, remote_machine("rm-b"))
        assert claimed["status"]["machineRef"]["name"] == "rm-b"

    async def test_release_leaves_machines_reserved_for_others_alone(self, client: Client) -> None:
        await client.create(pooled("host-0"))
        await pool.claim(client, remote_machine("rm-a"))
        assert await pool.release(client, "rm-b", NS) == []
