"""Pools of existing machines: a RemoteMachine cloned from a RemoteMachineTemplate names a `pool`, and takes the
connection details of one free PooledRemoteMachine of that pool.

Claiming writes the pooled machine's status with the resourceVersion it was read at, so of two concurrent claims on
the same host the API server lets exactly one through (409 for the other, which then looks again). A claim that
already names the RemoteMachine wins over a free one, so a pass interrupted between the claim and copying the fields
finishes with the same host.
"""

from __future__ import annotations

from typing import Any

from k0smotron_core.api import infrastructure
from k0smotron_core.runtime import APIError, Client

API_VERSION = infrastructure.PooledRemoteMachine.crd.api_version
KIND = "PooledRemoteMachine"
COPIED_FIELDS = ("address", "port", "user", "useSudo", "commandsAsScript", "workingDir", "customCleanUpCommands",
                 "sshKeyRef", "hostKeyRef", "hostKeyFingerprint", "hostKeyPolicy")
"""Every connection and clean-up field of `spec.machine`, copied into the RemoteMachine's spec."""
_ATTEMPTS = 8


class NoFreePooledMachine(Exception):
    def __init__(self, pool: str, size: int) -> None:
        detail = f"all {size} machines of pool {pool!r} are reserved" if size else f"pool {pool!r} has no machines"
        super().__init__(f"no free PooledRemoteMachine: {detail}; waiting for one to be added or released")


def _reserved_for(prm: dict[str, Any], name: str, namespace: str) -> bool:
    status = prm.get("status") or {}
    ref = status.get("machineRef") or {}
    return bool(status.get("reserved")) and ref.get("name") == name and ref.get("namespace") == namespace


def _in_pool(prm: dict[str, Any], pool: str) -> bool:
    return (prm.get("spec") or {}).get("pool") == pool and bool((prm.get("spec") or {}).get("machine"))


async def claim(client: Client, remote_machine: dict[str, Any]) -> dict[str, Any]:
    """The PooledRemoteMachine reserved for this RemoteMachine, reserving a free one if needed."""
    meta = remote_machine["metadata"]
    name, namespace, pool = meta["name"], meta["namespace"], remote_machine["spec"]["pool"]
    live: dict[str, dict[str, Any]] = {}
    for _ in range(_ATTEMPTS):
        listed = await client.list(API_VERSION, KIND, namespace)
        members = sorted((live.get(p["metadata"]["name"], p) for p in listed if _in_pool(p, pool)),
                         key=lambda p: p["metadata"]["name"])
        mine = next((p for p in members if _reserved_for(p, name, namespace)), None)
        if mine is not None:
            return mine
        free = next((p for p in members if not (p.get("status") or {}).get("reserved")), None)
        if free is None:
            raise NoFreePooledMachine(pool, len(members))
        reserved = {**free, "status": {"reserved": True, "machineRef": {"name": name, "namespace": namespace}}}
        try:
            return await client.update_status(reserved)
        except APIError as error:
            if not (error.conflict or error.not_found):
                raise
            # Someone else changed it first (the cache may be behind): look at the server's version of it.
            current = await client.get_live(API_VERSION, KIND, free["metadata"]["name"], namespace)
            if current is None:
                live.pop(free["metadata"]["name"], None)
            else:
                live[free["metadata"]["name"]] = current
    raise NoFreePooledMachine(pool, 0) from None


def connection_fields(prm: dict[str, Any]) -> dict[str, Any]:
    machine = (prm.get("spec") or {}).get("machine") or {}
    return {key: machine[key] for key in COPIED_FIELDS if key in machine}


async def release(client: Client, name: str, namespace: str) -> list[str]:
    """Free every pooled machine reserved for the RemoteMachine (in any namespace, as upstream); their names."""
    released = []
    for prm in await client.list(API_VERSION, KIND):
        if not _reserved_for(prm, name, namespace):
            continue
        for _ in range(_ATTEMPTS):
            try:
                await client.update_status({**prm, "status": {"reserved": False}})
                released.append(prm["metadata"]["name"])
                break
            except APIError as error:
                if error.not_found:
                    break
                if not error.conflict:
                    raise
                current = await client.get_live(API_VERSION, KIND, prm["metadata"]["name"],
                                                prm["metadata"]["namespace"])
                if current is None or not _reserved_for(current, name, namespace):
                    break
                prm = current
    return released
