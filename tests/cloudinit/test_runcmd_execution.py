"""Run the rendered runcmd with sh against stub binaries in a scratch directory: order, quoting, stop-on-failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from k0smotron_core.api.bootstrap import K0sWorkerConfigSpec
from k0smotron_core.cloudinit import render_worker

from ._cloud_init import load_cloud_config, runcmd_script

LOGGING_STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$BOOTSTRAP_LOG"\n'
# What the stub `curl` serves: a get.k0s.sh stand-in that installs a logging `k0s` where it is told to.
GET_K0S_STUB = (
    'echo "get.k0s.sh K0S_INSTALL_PATH=$K0S_INSTALL_PATH K0S_VERSION=$K0S_VERSION" >> "$BOOTSTRAP_LOG"\n'
    "mkdir -p \"$K0S_INSTALL_PATH\"\n"
    "printf '%s' '" + LOGGING_STUB + "' > \"$K0S_INSTALL_PATH/k0s\"\n"
    'chmod +x "$K0S_INSTALL_PATH/k0s"\n'
)

PRE_START = [
    "apt-get update && apt-get install -y curl jq",
    "mkdir -p /etc/k0s/monitoring",
    "echo 'export MONITORING_ENABLED=true' >> /etc/environment",
    # Quotes, command substitution, a pipe and an append, in one command.
    """echo "host=$(echo node-1) it's" | tr a-z A-Z >> /etc/hostinfo""",
    # Its own shell: `exit 0` and `cd` end/affect only this command.
    "cd / && exit 0",
]
POST_START = [
    "kubectl get nodes --kubeconfig=/var/lib/k0s/pki/admin.conf",
    "kubectl describe node $(echo worker-0) --kubeconfig=/var/lib/k0s/pki/admin.conf",
]


def _run(tmp_path: Path, spec: K0sWorkerConfigSpec, systemctl: str = LOGGING_STUB) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("apt-get", "kubectl"):
        (stubs / name).write_text(LOGGING_STUB)
    (stubs / "systemctl").write_text(systemctl)
    (stubs / "curl").write_text(LOGGING_STUB + "cat <<'SCRIPT'\n" + GET_K0S_STUB + "SCRIPT\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    (tmp_path / "etc").mkdir()

    document = load_cloud_config(render_worker(spec, machine_name="worker-0", join_token="secret", files=[]))
    script = runcmd_script(document)
    for node_path, scratch in (("/usr/local/bin", "bin"), ("/run/cluster-api", "run"), ("/etc", "etc")):
        script = script.replace(node_path, f"{tmp_path}/{scratch}")
    (tmp_path / "runcmd.sh").write_text(script)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "BOOTSTRAP_LOG": str(tmp_path / "log")}
    return subprocess.run(["sh", str(tmp_path / "runcmd.sh")], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)


def _log(tmp_path: Path) -> list[str]:
    return (tmp_path / "log").read_text().splitlines()


def test_commands_run_in_the_documented_order_and_write_the_sentinel(tmp_path: Path) -> None:
    spec = K0sWorkerConfigSpec.from_dict({"version": "v1.27.2+k0s.0", "preStartCommands": PRE_START,
                                         "postStartCommands": POST_START, "args": ["--debug"]})
    result = _run(tmp_path, spec)

    assert result.returncode == 0, result.stderr
    assert _log(tmp_path) == [
        "apt-get update",
        "apt-get install -y curl jq",
        "curl -sSfL --retry 5 https://get.k0s.sh",
        f"get.k0s.sh K0S_INSTALL_PATH={tmp_path}/bin K0S_VERSION=v1.27.2+k0s.0",
        f"k0s install worker --token-file {tmp_path}/etc/k0s.token --labels=k0smotron.io/machine-name=worker-0 --debug"
        " --kubelet-extra-args=--hostname-override=worker-0",
        "systemctl start k0sworker",
        "kubectl get nodes --kubeconfig=/var/lib/k0s/pki/admin.conf",
        "kubectl describe node worker-0 --kubeconfig=/var/lib/k0s/pki/admin.conf",
    ]
    assert (tmp_path / "etc/k0s/monitoring").is_dir()
    assert (tmp_path / "etc/environment").read_text() == "export MONITORING_ENABLED=true\n"
    assert (tmp_path / "etc/hostinfo").read_text() == "HOST=NODE-1 IT'S\n"
    assert (tmp_path / "run/bootstrap-success.complete").exists()


@pytest.mark.parametrize("failing", ["false", "exit 3", "test -d /nonexistent-dir && echo yes"])
def test_a_failing_pre_start_command_stops_the_bootstrap(tmp_path: Path, failing: str) -> None:
    spec = K0sWorkerConfigSpec.from_dict({"version": "v1.27.2+k0s.0", "postStartCommands": POST_START,
                                         "preStartCommands": ["apt-get update", failing, "apt-get install -y jq"]})
    result = _run(tmp_path, spec)

    assert result.returncode != 0
    assert _log(tmp_path) == ["apt-get update"]
    assert not (tmp_path / "bin/k0s").exists()
    assert not (tmp_path / "run/bootstrap-success.complete").exists()


def test_a_failing_start_stops_before_post_start_commands(tmp_path: Path) -> None:
    spec = K0sWorkerConfigSpec.from_dict({"version": "v1.27.2+k0s.0", "postStartCommands": POST_START})
    # The service cannot start: systemctl fails, and the host's rc-service/service, if any, know no k0sworker.
    result = _run(tmp_path, spec, systemctl=LOGGING_STUB + "exit 1\n")

    assert result.returncode != 0
    assert not any(line.startswith("kubectl") for line in _log(tmp_path))
    assert not (tmp_path / "run/bootstrap-success.complete").exists()

