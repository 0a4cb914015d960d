"""Cloud-init bootstrap data for k0s nodes (spec §2.3 to 2.5): files, the command sequence, and the cloud-config text.

Not covered here: Ignition, PowerShell (Windows), the CloudInitVars feature gate, the HAProxy ingress files and
commands, the tunneling manifest and the k0s < v1.31.6 leave service.
"""

from __future__ import annotations

from .args import controller_worker_enabled, install_args
from .commands import (
    SENTINEL_COMMAND,
    controller_commands,
    controller_install_command,
    runcmd_lines,
    worker_commands,
    worker_install_command,
    worker_start_command,
)
from .download import download_commands
from .errors import BootstrapDataError
from .files import BootstrapFile
from .render import render_controller, render_worker
from .version import normalize_k0s_version

__all__ = [
    "SENTINEL_COMMAND",
    "BootstrapDataError",
    "BootstrapFile",
    "controller_commands",
    "controller_install_command",
    "controller_worker_enabled",
    "download_commands",
    "install_args",
    "normalize_k0s_version",
    "render_controller",
    "render_worker",
    "runcmd_lines",
    "worker_commands",
    "worker_install_command",
    "worker_start_command",
]
