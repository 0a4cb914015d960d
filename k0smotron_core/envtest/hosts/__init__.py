"""Simulated hosts for the SSH infrastructure provider: machines reachable over real SSH whose filesystem writes
land in a sandbox instead of on the machine running the tests.

- `SimulatedHost`: asyncssh in this process serves SSH on 127.0.0.1:<port>; cheap, and fully controllable (take it
  down, change its host key, cut connections, cut one just before a given command).
- `NetnsNetwork` / `NetnsHost`: the real OpenSSH sshd on <198.18.x.y>:22 in a network namespace of its own.

Both run commands in a `Sandbox`: overlays over the real /etc, /var/lib, /usr/local, ... in a private mount
namespace. All of it needs root; without it, creating one raises `SandboxUnavailable` with the reason.
pytest fixtures: `pytest_plugins = ["k0smotron_core.envtest.hosts.pytest_plugin"]`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._inprocess import ExecutedCommand, SimulatedHost, default_host_files, simulated_hosts
    from ._netns import NetnsHost, NetnsNetwork, cleanup_stale, netns_unavailable
    from ._process import HostsError, RunResult
    from ._sandbox import (
        HOST_INFO_PATH,
        OVERLAID_DIRS,
        Account,
        HostUser,
        Sandbox,
        SandboxUnavailable,
        sandbox_unavailable,
    )

__all__ = [
    "HOST_INFO_PATH",
    "OVERLAID_DIRS",
    "Account",
    "ExecutedCommand",
    "HostUser",
    "HostsError",
    "NetnsHost",
    "NetnsNetwork",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
    "SimulatedHost",
    "cleanup_stale",
    "default_host_files",
    "netns_unavailable",
    "sandbox_unavailable",
    "simulated_hosts",
]

# Loaded on first use: the simulated `k0s` (hosts.k0s) starts as a process per command, and asyncssh and the
# sandbox machinery would add a third of a second to each.
_LAZY = {
    "Account": "._sandbox",
    "ExecutedCommand": "._inprocess",
    "HOST_INFO_PATH": "._sandbox",
    "HostUser": "._sandbox",
    "HostsError": "._process",
    "NetnsHost": "._netns",
    "NetnsNetwork": "._netns",
    "OVERLAID_DIRS": "._sandbox",
    "RunResult": "._process",
    "Sandbox": "._sandbox",
    "SandboxUnavailable": "._sandbox",
    "SimulatedHost": "._inprocess",
    "cleanup_stale": "._netns",
    "default_host_files": "._inprocess",
    "netns_unavailable": "._netns",
    "sandbox_unavailable": "._sandbox",
    "simulated_hosts": "._inprocess",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
