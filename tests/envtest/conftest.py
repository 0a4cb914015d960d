"""Fixtures shared by the conformance tests: envtest with the Widget CRD, and the clients that drive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from k0smotron_core.envtest import EnvTest

from ._kube import Clients, Kubectl, clients_for, install_widgets


@pytest.fixture
def kube(envtest: EnvTest, envtest_kubeconfig: Path) -> Iterator[Clients]:
    """The official `kubernetes` client's APIs against an envtest serving Widgets."""
    install_widgets(envtest)
    clients = clients_for(envtest_kubeconfig)
    yield clients
    clients.close()


@pytest.fixture
def kubectl(envtest: EnvTest, envtest_kubeconfig: Path, tmp_path: Path) -> Kubectl:
    """The real kubectl against an envtest serving Widgets."""
    install_widgets(envtest)
    return Kubectl(envtest_kubeconfig, tmp_path / "kube-cache")
