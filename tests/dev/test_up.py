"""`k0smotron-dev up` end to end: the binaries as subprocesses, the example applied, Ready, kubectl usable."""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k0smotron_core.dev import _up
from k0smotron_core.dev._providers import Providers
from k0smotron_core.dev._up import UpOptions, up
from k0smotron_core.envtest.hosts import sandbox_unavailable

ROOT = Path(__file__).resolve().parents[2]
DEV = Path(sys.executable).parent / "k0smotron-dev"

# A Cluster whose infrastructure never appears: it cannot become Ready, and needs no simulated host.
STUCK = """\
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata:
  name: stuck
  namespace: default
spec:
  infrastructureRef:
    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
    kind: RemoteCluster
    name: missing
"""


def stuck_example(tmp_path: Path) -> Path:
    path = tmp_path / "stuck.yaml"
    path.write_text(STUCK)
    return path


def provider_pids(stdout: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", stdout)]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def printed_kubectl_commands(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines()
            if line.startswith("    ") and " --kubeconfig " in line and line.strip().split()[0].endswith("kubectl")]


async def test_without_root_it_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_up, "hosts_unavailable", lambda: "simulated hosts need root (mount namespaces and overlayfs)")
    out, err = io.StringIO(), io.StringIO()
    assert await up(UpOptions(directory=tmp_path / "demo"), out, err) == 1
    assert err.getvalue() == ("k0smotron-dev: the example's machines run on simulated SSH hosts, and simulated hosts "
                              "need root (mount namespaces and overlayfs): run it as root (e.g. sudo make demo)\n")
    assert out.getvalue() == ""
    assert not (tmp_path / "demo").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs k0smotron-dev as another user, which needs root")
def test_a_user_without_root_gets_one_line(tmp_path: Path) -> None:
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*as_nobody, "test", "-r", str(DEV)], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot read {DEV} (a parent directory of the checkout is private), so the "
                    "demo cannot be started as another user here")
    tmp_path.chmod(0o777)
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(DEV), "up",
                             "--dir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "need root" in result.stderr, result.stderr


def test_timeout_prints_the_blocking_conditions(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = subprocess.run([str(DEV), "up", "--example", str(stuck_example(tmp_path)), "--timeout", "6",
                             "--dir", str(directory)], capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not Ready after 6s; blocked by:" in result.stderr
    assert ("  - Cluster default/stuck: condition InfrastructureReady is not True (reason InfrastructureDoesNotExist)"
            in result.stderr), result.stderr
    assert "  - Nodes of stuck: condition Kubeconfig is not True (reason SecretNotFound)" in result.stderr
    assert "applied" in result.stdout and "Cluster default/stuck" in result.stdout
    assert (directory / "kubeconfig").is_file()
    assert sorted(p.name for p in (directory / "logs").iterdir()) == [
        "k0smotron-bootstrap.log", "k0smotron-controlplane.log", "k0smotron-infrastructure.log"]
    pids = provider_pids(result.stdout)
    assert len(pids) == 3 and all(gone(pid) for pid in pids)


def test_sigterm_stops_everything_and_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        process = subprocess.Popen([str(DEV), "up", "--example", str(stuck_example(tmp_path)),
                                    "--dir", str(tmp_path / "demo")], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Cluster default/stuck:" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert text.rstrip().endswith("k0smotron-dev: stopped")
    assert "exited with status" not in text
    pids = provider_pids(text)
    assert len(pids) == 3 and all(gone(pid) for pid in pids)


async def test_a_crashed_provider_fails_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_argv = Providers.argv

    def argv(self: Providers, name: str) -> list[str]:
        if name == "k0smotron-controlplane":
            return ["/bin/sh", "-c", "echo 'boom: no such flag'; exit 3"]
        return real_argv(self, name)

    monkeypatch.setattr(Providers, "argv", argv)
    out, err = io.StringIO(), io.StringIO()
    options = UpOptions(example=str(stuck_example(tmp_path)), directory=tmp_path / "demo", timeout_s=60)
    assert await up(options, out, err) == 1
    assert "k0smotron-dev: k0smotron-controlplane exited with status 3; the end of" in err.getvalue()
    assert err.getvalue().rstrip().endswith("boom: no such flag")


def run_printed(commands: list[str], cwd: Path) -> list[str]:
    outputs = []
    for command in commands:
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, cwd=cwd,
                                check=False)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        outputs.append(result.stdout)
    return outputs


@pytest.mark.timeout(400)
@pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))
def test_the_hcp_example_becomes_ready(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = subprocess.run([str(DEV), "up", "--example", "hcp-remote-machine", "--exit-when-ready", "--timeout",
                             "120", "--dir", str(directory)], capture_output=True, text=True, timeout=180,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (directory / "remote-test.kubeconfig").is_file()
    commands = printed_kubectl_commands(result.stdout)
    assert [shlex.split(c)[1:] for c in commands] == [
        ["--kubeconfig", str(directory / "kubeconfig"), "get", "clusters,machines,k0smotroncontrolplanes", "-A"],
        ["--kubeconfig", str(directory / "remote-test.kubeconfig"), "get", "nodes"],
    ], result.stdout
    assert all((ROOT / shlex.split(c)[0]).is_file() for c in commands), commands
    pids = provider_pids(result.stdout)
    assert len(pids) == 3 and all(gone(pid) for pid in pids)

    # --exit-when-ready took the clusters down with it: the commands work while `up` runs, so run them then.
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        process = subprocess.Popen([str(DEV), "up", "--timeout", "120", "--dir", str(directory)], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while "Press Ctrl-C to stop." not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert printed_kubectl_commands(log.read_text()) == commands
        management, child = run_printed(commands, ROOT)
        assert re.search(r"cluster\.cluster\.x-k8s\.io/remote-test\s+Provisioned", management), management
        assert re.search(r"machine\.cluster\.x-k8s\.io/remote-test-0\s+remote-test\s+remote-test-0\s+"
                         r"remote-machine://127\.0\.0\.1:\d+\s+Running", management), management
        assert re.search(r"k0smotroncontrolplane\.controlplane\.cluster\.x-k8s\.io/remote-test\s.*\btrue\b",
                         management), management
        assert re.search(r"^remote-test-0\s", child, re.MULTILINE), child
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert log.read_text().rstrip().endswith("k0smotron-dev: stopped")
