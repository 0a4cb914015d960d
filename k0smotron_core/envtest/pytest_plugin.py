"""pytest fixtures for envtest. Enable with `pytest_plugins = ["k0smotron_core.envtest.pytest_plugin"]`.

- `envtest`: an API server running in a thread of its own, so blocking clients (kubectl, the synchronous
  `kubernetes` client) may be used from the test.
- `envtest_kubeconfig`: the path of an admin kubeconfig for it.
- `async_envtest`: an API server sharing the test's event loop (for asyncio tests with pytest-asyncio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from ._server import EnvTest


@pytest.fixture
def envtest() -> Iterator[EnvTest]:
    with EnvTest().running_in_thread() as env:
        yield env


@pytest.fixture
def envtest_kubeconfig(envtest: EnvTest, tmp_path: Path) -> Path:
    return envtest.write_kubeconfig(tmp_path / "kubeconfig")


@pytest_asyncio.fixture
async def async_envtest() -> AsyncIterator[EnvTest]:
    async with EnvTest() as env:
        yield env
