"""Bootstrap user data (cloud-config) for k0s workers and controllers."""

from __future__ import annotations

import json

from k0smotron_core.api.bootstrap import K0sConfigSpec, K0sWorkerConfigSpec

from .cloud_config import render_cloud_config
from .commands import controller_commands, runcmd_lines, worker_commands
from .files import SECRET_PERMISSIONS, BootstrapFile


def render_worker(
    spec: K0sWorkerConfigSpec,
    *,
    machine_name: str,
    join_token: str,
    files: list[BootstrapFile],
    custom_user_data: str | None = None,
) -> str:
    """Cloud-config joining a worker: the token file first, then `files` (spec.files with contentFrom resolved, in
    spec order); runcmd preStart, download, install, start, postStart, sentinel."""
    token_file = BootstrapFile(path=spec.join_token_path, content=join_token, permissions=SECRET_PERMISSIONS)
    return render_cloud_config(
        [token_file, *files],
        runcmd_lines(worker_commands(spec, machine_name=machine_name)),
        custom_user_data,
    )


def render_controller(
    spec: K0sConfigSpec,
    *,
    version: str,
    machine_name: str,
    join_token: str | None,
    ca_files: list[BootstrapFile],
    files: list[BootstrapFile],
    custom_user_data: str | None = None,
) -> str:
    """Cloud-config for a controller: the first one gets `ca_files` (under /var/lib/k0s/pki) and no token; a joining
    one gets `join_token` and `--token-file`. `version` is the k0s version to download (may be empty: latest)."""
    bootstrap_files = _k0s_config_files(spec)
    bootstrap_files += ca_files
    if join_token is not None:
        bootstrap_files.append(
            BootstrapFile(path=spec.join_token_path, content=join_token, permissions=SECRET_PERMISSIONS))
    bootstrap_files += files
    commands = controller_commands(spec, version=version, machine_name=machine_name, joining=join_token is not None)
    return render_cloud_config(bootstrap_files, runcmd_lines(commands), custom_user_data)


def _k0s_config_files(spec: K0sConfigSpec) -> list[BootstrapFile]:
    if spec.k0s is None:
        return []
    # JSON is YAML, which k0s reads; sorted compact keys match what upstream's Go marshalling writes.
    content = json.dumps(spec.k0s, sort_keys=True, separators=(",", ":"))
    return [BootstrapFile(path=spec.k0s_config_path, content=content)]

