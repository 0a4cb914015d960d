"""Undoing the bootstrap on a host when its RemoteMachine goes away.

The user's clean-up commands, when set, replace everything else (they own the host then). Otherwise a k0s host is
stopped and reset, and a controller first leaves etcd so the remaining members keep quorum. `k0s stop` works with
whatever init system the host has (upstream chains systemctl/rc-service/service and, on SysV, stops the wrong
unit for workers). Finally the provisioning records go, so the host can be provisioned again from a pool.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from k0smotron_core import ssh

from ._bootstrapdata import display_command

Role = Literal["controller", "worker", "other"]

_K0S = 'K0S="$(command -v k0s || echo /usr/local/bin/k0s)"; '


@dataclass(frozen=True)
class CleanupResult:
    failures: list[str]
    """One line per failed command (redacted): clean-up goes on after a failure, as upstream does."""


def commands(role: Role, *, custom: Sequence[str] | None, kubelet_root_dir: str | None) -> list[str]:
    if custom:
        return list(custom)
    if role == "other":
        return []
    reset = '"$K0S" reset'
    if kubelet_root_dir:
        reset += f" --kubelet-root-dir {shlex.quote(kubelet_root_dir)}"
    steps = ['"$K0S" etcd leave'] if role == "controller" else []
    # `k0s stop` fails on a host where k0s is not running, which is fine: reset is what matters.
    steps += ['"$K0S" stop || true', reset]
    return [_K0S + step for step in steps]


async def run(shell: ssh.Shell, commands_: Sequence[str], *, records: str, command_timeout: float,
              secrets: Sequence[str] = ()) -> CleanupResult:
    failures: list[str] = []
    for command in commands_:
        result = await shell.run(command, timeout=command_timeout)
        if not result.ok:
            shown = command.removeprefix(_K0S)
            output = ssh.redact((result.stderr or result.stdout).strip(), secrets)
            failures.append(f"{shown!s} exited {result.exit_status}: {' '.join(output.split())[-300:]}")
    await shell.run(f"rm -rf {shlex.quote(records)}", timeout=command_timeout)
    return CleanupResult(failures)


def kubelet_root_dir(bootstrap_commands: Sequence[str]) -> str | None:
    """`k0s reset` must be told a non-default kubelet root dir, which only the install command knows."""
    for command in bootstrap_commands:
        try:
            words = shlex.split(display_command(command))
        except ValueError:
            continue
        for index, word in enumerate(words):
            if word.startswith("--kubelet-root-dir="):
                return word.split("=", 1)[1]
            if word == "--kubelet-root-dir" and index + 1 < len(words):
                return words[index + 1]
    return None
