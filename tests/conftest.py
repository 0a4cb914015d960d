from __future__ import annotations

pytest_plugins = ["k0smotron_core.envtest.pytest_plugin"]
