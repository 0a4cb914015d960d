from __future__ import annotations

pytest_plugins = [
    "k0smotron_core.envtest.pytest_plugin",
    "k0smotron_core.envtest.capi.pytest_plugin",
    "k0smotron_core.envtest.hosts.pytest_plugin",
]
