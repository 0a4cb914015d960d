"""`python -m k0smotron_core.envtest serve`: the command-line face of envtest."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

KUBECTL = Path(sys.executable).parent / "kubectl"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "k0smotron_core.envtest", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_prints_the_url_writes_a_kubeconfig_that_kubectl_uses_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    server = _start("serve", "--port", "0", "--kubeconfig", str(kubeconfig))
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        listed = subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), "get", "namespaces", "-o", "name"],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["namespace/default", "namespace/kube-node-lease",
                                         "namespace/kube-public", "namespace/kube-system"]
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    assert code == 0


def test_serve_installs_the_crds_it_is_given_before_printing_the_url(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    crds = Path(__file__).parent / "manifests" / "widgets-crd.yaml"
    server = _start("serve", "--kubeconfig", str(kubeconfig), "--crds", str(crds))
    try:
        assert server.stdout is not None
        server.stdout.readline()
        got = subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), "get", "crd", "widgets.example.com",
                              "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"],
                             capture_output=True, text=True, timeout=60)
        assert got.stdout == "True", got.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_a_port_already_in_use_gives_one_readable_line_and_exit_1(tmp_path: Path) -> None:
    first = _start("serve", "--port", "0", "--kubeconfig", str(tmp_path / "first"))
    try:
        assert first.stdout is not None
        port = first.stdout.readline().strip().rsplit(":", 1)[1]
        second = subprocess.run([sys.executable, "-m", "k0smotron_core.envtest", "serve", "--port", port],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert second.stderr.strip().count("\n") == 0
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)
