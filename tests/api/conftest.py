"""An envtest with every generated CRD installed (ours, envtest's CAPI core ones, and third-party stand-ins)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest.capi import CRDS_DIR as CAPI_CRDS_DIR

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_CRDS_DIR = ROOT / "crds"
THIRD_PARTY_CRDS = Path(__file__).parent / "manifests" / "third-party-crds.yaml"
EXAMPLES_DIR = ROOT / "examples"
KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass
class Kubectl:
    kubeconfig: Path
    cache: Path

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args],
            input=stdin, capture_output=True, text=True, timeout=60,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """kubectl against an envtest where every CRD was applied with kubectl itself."""
    scratch = tmp_path_factory.mktemp("envtest")
    with EnvTest().running_in_thread() as env:
        kubectl = Kubectl(env.write_kubeconfig(scratch / "kubeconfig"), scratch / "cache")
        for source in (PROVIDER_CRDS_DIR, CAPI_CRDS_DIR, THIRD_PARTY_CRDS):
            kubectl.ok("apply", "-f", str(source))
        kubectl.ok("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
        yield kubectl
