"""Simulated SSH hosts for the example's machines: one in-process `SimulatedHost` per machine, named after it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..envtest.hosts import SimulatedHost, sandbox_unavailable
from ._apply import MachineSpec


def hosts_unavailable() -> str | None:
    """Why simulated hosts cannot run here (not root, tools missing), or None."""
    reason: str | None = sandbox_unavailable()
    return reason


class Hosts:
    """The hosts, keyed by machine name; their sandboxes live under `root_dir/<name>` (emptied first)."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        self.by_machine: dict[str, SimulatedHost] = {}

    async def create(self, machines: list[MachineSpec]) -> dict[str, SimulatedHost]:
        if self.root_dir.exists():
            shutil.rmtree(self.root_dir)  # sandboxes of an earlier run; their mounts died with their namespaces
        self.root_dir.mkdir(parents=True)
        for machine in machines:
            if machine.name in self.by_machine:
                continue
            users = [] if machine.user == "root" else [machine.user]
            self.by_machine[machine.name] = await SimulatedHost.create(machine.name, self.root_dir / machine.name,
                                                                       users=users)
        return dict(self.by_machine)

    async def close(self) -> None:
        for host in self.by_machine.values():
            await host.close()
        self.by_machine.clear()
