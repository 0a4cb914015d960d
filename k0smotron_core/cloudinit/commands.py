"""The node's bootstrap command sequence, one entry per shell session.

The user guide promises that each pre/post start command runs in a separate shell session, in order, and that the
bootstrap fails at the first failing command. So the sequence is a list of commands, each meant for its own
`sh -c`; `runcmd_lines` turns it into lines for cloud-init's single `runcmd` script.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from k0smotron_core.api.bootstrap import K0sConfigSpec, K0sWorkerConfigSpec

from .args import controller_worker_enabled, install_args
from .download import download_commands

SENTINEL_DIR = "/run/cluster-api"
SENTINEL_COMMAND = f"mkdir -p {SENTINEL_DIR} && touch {SENTINEL_DIR}/bootstrap-success.complete"
"""Cluster API's marker that bootstrap succeeded; infrastructure providers (and the SSH provisioner) wait for it."""


def k0s_binary(install_dir: str) -> str:
    return shlex.quote(f"{install_dir.rstrip('/')}/k0s")


def worker_start_command() -> str:
    """Start the service with whichever init system the node has; fail when there is none."""
    return " || ".join([
        "(command -v systemctl >/dev/null 2>&1 && systemctl start k0sworker)",
        "(command -v rc-service >/dev/null 2>&1 && rc-service k0sworker start)",
        "(command -v service >/dev/null 2>&1 && service k0sworker start)",
        '(echo "Not a supported init system"; false)',
    ])


def worker_install_command(spec: K0sWorkerConfigSpec, *, machine_name: str) -> str:
    args = install_args(spec.args, machine_name=machine_name, worker=True, use_system_hostname=spec.use_system_hostname)
    parts = [k0s_binary(spec.k0s_install_dir), "install", "worker", "--token-file", shlex.quote(spec.join_token_path)]
    return " ".join(parts + args)


def controller_install_command(spec: K0sConfigSpec, *, machine_name: str, joining: bool) -> str:
    user_args = list(spec.args or ())
    if spec.k0s is not None:
        # Upstream adds --config among the user args, i.e. before the merged --kubelet-extra-args.
        user_args += ["--config", shlex.quote(spec.k0s_config_path)]
    args = install_args(user_args, machine_name=machine_name, worker=controller_worker_enabled(spec.args),
                        use_system_hostname=spec.use_system_hostname)
    parts = [k0s_binary(spec.k0s_install_dir), "install", "controller", "--force", "--enable-dynamic-config",
             # Makes the k0s ControlNode name equal the Machine name.
             "--env", f"AUTOPILOT_HOSTNAME={shlex.quote(machine_name)}"]
    if joining:
        args += ["--token-file", shlex.quote(spec.join_token_path)]
    return " ".join(parts + args)


def _download_step(version: str | None, download_url: str | None, install_dir: str,
                   pre_installed: bool | None) -> list[str]:
    if pre_installed:
        return []
    # One shell for the whole download: `export HOME=/root` has to reach `oras`.
    return [" && ".join(download_commands(version, download_url, install_dir))]


def worker_commands(spec: K0sWorkerConfigSpec, *, machine_name: str) -> list[str]:
    """preStart, download, install, start, postStart, sentinel — each entry for its own shell."""
    return [
        *(spec.pre_start_commands or ()),
        *_download_step(spec.version, spec.download_url, spec.k0s_install_dir, spec.pre_installed_k0s),
        worker_install_command(spec, machine_name=machine_name),
        worker_start_command(),
        *(spec.post_start_commands or ()),
        SENTINEL_COMMAND,
    ]


def controller_commands(spec: K0sConfigSpec, *, version: str | None, machine_name: str, joining: bool) -> list[str]:
    """preStart, download, install, `k0s start`, postStart, sentinel — each entry for its own shell."""
    return [
        *(spec.pre_start_commands or ()),
        *_download_step(version, spec.download_url, spec.k0s_install_dir, spec.pre_installed_k0s),
        controller_install_command(spec, machine_name=machine_name, joining=joining),
        f"{k0s_binary(spec.k0s_install_dir)} start",
        *(spec.post_start_commands or ()),
        SENTINEL_COMMAND,
    ]


def runcmd_lines(commands: Sequence[str]) -> list[str]:
    """Lines for cloud-init `runcmd`, which runs them as one `#!/bin/sh` script without `set -e`.

    Each command gets its own `sh -c` (a fresh shell session, as documented; its `exit` or `cd` cannot leak into the
    next), single-quoted so the outer script passes it through untouched whatever quotes, `$(...)`, pipes or
    redirections it holds. `|| exit 1` ends the script at the first failure, so the sentinel is only written when
    everything before it succeeded, and cloud-init reports the failure.
    """
    return [f"sh -c {shlex.quote(command)} || exit 1" for command in commands]
