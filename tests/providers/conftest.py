"""The binaries run against a management cluster prepared as clusterctl leaves it: our CRDs and CAPI's installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._install import load_manifests
from k0smotron_core.envtest.capi import CRDS_DIR as CAPI_CRDS_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def envtest() -> Iterator[EnvTest]:
    with EnvTest().running_in_thread() as env:
        for document in [*load_manifests(CAPI_CRDS_DIR), *load_manifests(ROOT / "crds")]:
            env.create(document)
        yield env
