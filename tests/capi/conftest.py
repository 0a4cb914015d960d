from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.envtest.capi._connection import client_for
from k0smotron_core.runtime import Client

from ._support import install_provider_crds


@pytest_asyncio.fixture
async def kube(capi: CAPIEnvironment) -> AsyncIterator[Client]:
    """The test's own client of the management cluster (acting as the providers would), with the fake
    infrastructure and the K0sWorkerConfig CRDs installed."""
    await install_provider_crds(capi.env)
    client = client_for(capi.env, user="test")
    yield client
    await client.transport.close()
