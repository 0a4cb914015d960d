from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from k0smotron_core import pki
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest.workloads import WorkloadSimulator


@pytest_asyncio.fixture
async def sim(async_envtest: EnvTest) -> AsyncIterator[WorkloadSimulator]:
    async with WorkloadSimulator(async_envtest) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def cluster_ca() -> pki.KeyPair:
    # EC: the tests need a CA, not RSA's key generation time.
    return pki.generate_ca("kubernetes", algorithm="ecdsa-p256")
