"""The simulated k0s (`python -m k0smotron_core.envtest.hosts.k0s`) and the shims of a simulated host, against a
child envtest. The host's filesystem is a directory (`K0S_SIM_ROOT`), so these run without sandboxes.

End-to-end flows run the real programs as subprocesses (the curl and systemctl shims, the `k0s` wrapper get.k0s.sh
writes, the bootstrap's own command lines); error paths call the simulator in-process, which is faster."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from k0smotron_core import pki, tokens
from k0smotron_core.api.bootstrap import K0sWorkerConfigSpec
from k0smotron_core.cloudinit import worker_commands, worker_start_command
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest.hosts import _k0s
from k0smotron_core.envtest.hosts._k0s import host_files, main, parse_flags

VERSION = "v1.27.2+k0s.0"
ADDRESS = "10.0.0.7"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Host:
    """A simulated host's filesystem in a directory, its shims first on PATH."""

    root: Path
    env: dict[str, str]
    seen: list[str] = field(default_factory=list)
    """Everything the host's programs printed (to check that no secret ever shows)."""

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    @property
    def bin_dir(self) -> str:
        return str(self.path("/usr/local/bin"))

    async def sh(self, command: str) -> Result:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, env=self.env, cwd=self.root,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        result = Result(process.returncode, out.decode(), err.decode())
        self.seen += [result.out, result.err]
        return result

    async def ok(self, command: str) -> Result:
        result = await self.sh(command)
        assert result.code == 0, f"{command} exited {result.code}: {result.err}"
        return result

    def invocations(self) -> list[dict[str, Any]]:
        log = self.path("/var/log/k0s-sim.jsonl")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path("/var/lib/k0s/k0s-sim.json").read_text())
        return data


def make_host(root: Path) -> Host:
    for path, (content, mode) in host_files().items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    info = root / "etc/k0smotron-sim/host.json"
    info.parent.mkdir(parents=True, exist_ok=True)
    info.write_text(json.dumps({"name": "sim-1", "address": ADDRESS}))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update({"K0S_SIM_ROOT": str(root), "PATH": f"{root}/usr/local/bin:{os.environ['PATH']}",
                "K0S_SIM_API_TIMEOUT_S": "5", "K0S_SIM_CSR_TIMEOUT_S": "10"})
    env.pop("K0S_SIM_VERSION", None)
    env.pop("K0S_SIM_BINARY", None)
    return Host(root, env)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return make_host(tmp_path / "host")


@dataclass
class Cluster:
    env: EnvTest
    token: tokens.BootstrapToken

    def join_token(self, role: tokens.Role = "worker", token: tokens.BootstrapToken | None = None) -> str:
        return tokens.join_token(token or self.token, server=self.env.url, ca_pem=self.env.ca_pem, role=role)

    def node(self, name: str) -> dict[str, Any] | None:
        return self.env.get("v1", "Node", name)


def _new_token(env: EnvTest, *, role: tokens.Role = "worker", ttl: dt.timedelta = dt.timedelta(minutes=30)
               ) -> tokens.BootstrapToken:
    token = tokens.new_token()
    env.create(tokens.bootstrap_token_secret(token, role=role, now=dt.datetime.now(dt.UTC), ttl=ttl))
    return token


@pytest_asyncio.fixture
async def cluster(async_envtest: EnvTest) -> AsyncIterator[Cluster]:
    yield Cluster(async_envtest, _new_token(async_envtest))


def _write_token(host: Host, text: str, path: str = "/etc/k0s.token") -> None:
    target = host.path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(0o600)


def _worker_spec(host: Host, **fields: Any) -> K0sWorkerConfigSpec:
    return K0sWorkerConfigSpec.model_validate({"version": VERSION, "k0sInstallDir": host.bin_dir, **fields})


def _conditions(node: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in node["status"]["conditions"]}


# --- end to end, as the bootstrap data runs it --------------------------------------------------------------------


async def test_the_curl_shim_serves_the_installer_of_the_requested_version_and_nothing_else(host: Host) -> None:
    [download] = worker_commands(_worker_spec(host), machine_name="m")[:1]
    result = await host.ok(download)
    assert f"k0s is now executable in {host.bin_dir}" in result.out
    assert (await host.ok("k0s version")).out == f"{VERSION}\n"
    assert (await host.ok(f"{host.bin_dir}/k0s version --json")).out.startswith('{"k0s": "v1.27.2+k0s.0"')

    # Without K0S_VERSION: the stable release; into the default directory it would be /usr/local/bin.
    other = host.path("/opt/bin")
    await host.ok(f"curl -sSfL https://get.k0s.sh | K0S_INSTALL_PATH={other} sh")
    assert (await host.ok(f"{other}/k0s version")).out.strip() == _k0s.DEFAULT_K0S_VERSION
    assert "K0S_INSTALL_PATH:-/usr/local/bin" in (await host.ok("curl -sSfL https://get.k0s.sh")).out

    # A version that does not exist is a 404 of the download; any other host does not resolve.
    missing = await host.sh(f"curl -sSfL https://get.k0s.sh | K0S_INSTALL_PATH={other} K0S_VERSION='v1; rm' sh")
    assert (missing.code, missing.err) == (22, "curl: (22) The requested URL returned error: 404\n")
    offline = await host.sh(f"curl -sSfL --retry 5 https://github.com/k0sproject/k0s/releases/k0s -o {other}/x")
    assert (offline.code, offline.err) == (6, "curl: (6) Could not resolve host: github.com\n")
    assert not (other / "x").exists()
    quiet = await host.sh("curl -sf https://user:pw@example.com:8443/path?q=1")
    assert (quiet.code, quiet.err) == (6, "")


async def test_the_bootstrap_commands_install_and_start_a_worker_that_registers_a_ready_node(
    host: Host, cluster: Cluster
) -> None:
    _write_token(host, cluster.join_token())
    spec = _worker_spec(host, args=["--labels=tier=edge", "--kubelet-extra-args=--provider-id=remote://sim-1"])
    download, install, start, _sentinel = worker_commands(spec, machine_name="m1")
    assert start == worker_start_command()
    for command in (download, install, start):
        await host.ok(command)

    node = cluster.node("m1")
    assert node is not None
    assert node["metadata"]["labels"] | {"k0smotron.io/machine-name": "m1", "tier": "edge"} == (
        node["metadata"]["labels"])
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "m1"
    assert node["spec"]["providerID"] == "remote://sim-1"
    assert _conditions(node) == {"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False",
                                 "Ready": "True"}
    assert node["status"]["addresses"] == [{"type": "InternalIP", "address": ADDRESS},
                                           {"type": "Hostname", "address": "m1"}]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.27.2+k0s"
    # Registered by the node itself, with the certificate its CSR got, not with the bootstrap token.
    writers = {e.user for e in cluster.env.audit.events(resource="nodes", writes_only=True)}
    assert writers == {"system:node:m1"}
    [csr] = cluster.env.audit.events(resource="certificatesigningrequests", verb="create")
    assert csr.user == f"system:bootstrap:{cluster.token.token_id}"

    unit = host.path("/etc/systemd/system/k0sworker.service").read_text()
    assert "ExecStart=/usr/local/bin/k0s worker --token-file /etc/k0s.token" in unit
    for private in ("/var/lib/k0s/kubelet/pki/kubelet-client-current.pem", "/var/lib/k0s/kubelet-bootstrap.conf",
                    "/var/lib/k0s/kubelet.conf"):
        assert stat.S_IMODE(host.path(private).stat().st_mode) == 0o600, private

    status = await host.ok("k0s status")
    assert status.out.startswith(f"Version: {VERSION}\nProcess ID: ")
    assert "Role: worker\nWorkloads: true\n" in status.out
    assert (await host.ok("systemctl is-active k0sworker")).out == "active\n"
    # Starting again is a no-op, as systemctl start of a running unit.
    await host.ok("systemctl start k0sworker.service")

    argvs = [entry["argv"][1:] for entry in host.invocations()]
    assert argvs[0][:2] == ["install", "worker"]
    assert [a for a in argvs if a[:1] == ["install"]] == [argvs[0]]
    assert argvs.count(["start"]) == 2
    assert all(entry["exit_code"] == 0 and entry["version"] == VERSION for entry in host.invocations())
    # Nothing secret was printed.
    printed = "".join(host.seen)
    assert cluster.token.secret not in printed and "PRIVATE KEY" not in printed


async def test_a_second_install_fails_unless_forced(host: Host, cluster: Cluster) -> None:
    _write_token(host, cluster.join_token())
    await host.ok("curl -sSfL https://get.k0s.sh | K0S_INSTALL_PATH=$PWD/usr/local/bin sh")
    await host.ok("k0s install worker --token-file /etc/k0s.token")
    again = await host.sh("k0s install worker --token-file /etc/k0s.token --labels=a=b")
    assert (again.code, again.err) == (1, "Error: failed to install k0s service: Init already exists: k0sworker\n")
    await host.ok("k0s install worker --token-file /etc/k0s.token --labels=a=b --force")
    assert host.state()["labels"] == {"a": "b"}
    assert [e["exit_code"] for e in host.invocations() if e["argv"][1] == "install"] == [0, 1, 0]


async def test_reset_is_refused_while_running_and_stop_then_reset_removes_the_node_and_the_local_state(
    host: Host, cluster: Cluster
) -> None:
    _write_token(host, cluster.join_token())
    await host.ok("curl -sSfL https://get.k0s.sh | K0S_INSTALL_PATH=$PWD/usr/local/bin sh")
    await host.ok("k0s install worker --token-file /etc/k0s.token --kubelet-extra-args='--hostname-override=r1'"
                  " && systemctl start k0sworker")
    assert cluster.node("r1") is not None

    refused = await host.sh("k0s reset")
    assert (refused.code, refused.err) == (1, "Error: k0s seems to be running! please stop k0s before reset.\n")

    await host.ok("systemctl stop k0sworker")
    node = cluster.node("r1")
    assert node is not None and _conditions(node)["Ready"] == "Unknown"
    not_running = await host.sh("k0s status")
    assert not_running.code == 1 and "k0s not running" in not_running.err
    inactive = await host.sh("systemctl is-active k0sworker")
    assert (inactive.code, inactive.out) == (3, "inactive\n")

    await host.ok("k0s reset")
    assert cluster.node("r1") is None
    assert not host.path("/var/lib/k0s").exists()
    assert not host.path("/etc/systemd/system/k0sworker.service").exists()
    assert [e["argv"][1] for e in host.invocations()] == ["install", "start", "reset", "stop", "status", "status",
                                                         "reset"]
    missing = await host.sh("systemctl start k0sworker")
    assert (missing.code, missing.err) == (5, "Failed to start k0sworker.service: Unit k0sworker.service not found.\n")


async def test_install_rejects_a_join_token_its_api_server_does_not_accept(host: Host, cluster: Cluster) -> None:
    env = cluster.env
    expired = _new_token(env, ttl=dt.timedelta(seconds=-60))
    cases = {
        "expired": cluster.join_token(token=expired),
        "unknown": cluster.join_token(token=tokens.new_token()),
        "controller token": cluster.join_token(role="controller", token=_new_token(env, role="controller")),
    }
    for why, text in cases.items():
        _write_token(host, text)
        result = await host.sh(f"{_python_k0s()} install worker --token-file /etc/k0s.token")
        assert result.code == 1, why
        if why == "controller token":
            assert "it is a controller token, a worker needs a worker token" in result.err
        else:
            assert "invalid join token" in result.err and "401 Unauthorized" in result.err, why
        assert not host.path("/etc/systemd/system/k0sworker.service").exists()
    printed = "".join(host.seen)
    assert expired.secret not in printed and cluster.token.secret not in printed


def _python_k0s() -> str:
    import sys

    return f"{sys.executable} -m k0smotron_core.envtest.hosts.k0s"


# --- in-process: flags, errors, controllers ------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    """A host for calling the simulator in-process (`main(argv)`)."""
    host = make_host(tmp_path / "host")
    for name in ("K0S_SIM_VERSION", "K0S_SIM_BINARY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in host.env.items():
        if name.startswith("K0S_SIM_"):
            monkeypatch.setenv(name, value)
    yield host


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = main(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def test_flags_are_parsed_as_cobra_does(local: Host, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "install", "worker", "--bogus").err == "Error: unknown flag: --bogus\n"
    assert _run(capsys, "install", "worker", "-x").err == "Error: unknown shorthand flag: 'x' in -x\n"
    assert _run(capsys, "install", "worker", "--token-file").err == "Error: flag needs an argument: --token-file\n"
    assert _run(capsys, "install", "worker", "--force=maybe").err.startswith(
        'Error: invalid argument "maybe" for "--force" flag: strconv.ParseBool')
    assert _run(capsys, "install", "controller", "--enable-worker", "--no-taints", "extra").err == (
        'Error: unknown command "extra" for "k0s install controller"\n')
    assert _run(capsys, "frobnicate").code == 1
    parsed = parse_flags(["--labels=a=1,b=2", "--labels", "c=3", "-e", "A=1", "--env=B=2,3", "--force", "-dv",
                          "--kubelet-extra-args", "--hostname-override=x --node-ip=10.0.0.9", "--", "rest"],
                         _k0s.CONTROLLER_INSTALL_FLAGS)
    assert parsed.strings("labels") == ["a=1", "b=2", "c=3"]
    assert parsed.strings("env") == ["A=1", "B=2,3"]
    assert parsed.bool("force") and parsed.bool("debug") and parsed.bool("verbose")
    assert _k0s.kubelet_flags(parsed.string("kubelet-extra-args")) == {"hostname-override": "x",
                                                                       "node-ip": "10.0.0.9"}
    assert parsed.positional == ["rest"]
    assert [e["exit_code"] for e in local.invocations()] == [1, 1, 1, 1, 1, 1]


def test_service_commands_need_an_installation(local: Host, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "start").err == (
        "Error: failed to start: k0s service not installed, run `k0s install` first\n")
    assert _run(capsys, "stop").code == 1
    assert _run(capsys, "status").code == 1
    assert _run(capsys, "etcd", "leave").code == 1
    # Reset of a machine without k0s has nothing to do, and succeeds.
    assert _run(capsys, "reset", "--kubelet-root-dir=/var/lib/kubelet", "-d", "--data-dir", "/var/lib/k0s").code == 0


def test_a_worker_without_a_hostname_override_is_named_after_the_uts_hostname(
    local: Host, capsys: pytest.CaptureFixture[str], envtest: EnvTest
) -> None:
    token = _new_token(envtest)
    _write_token(local, tokens.join_token(token, server=envtest.url, ca_pem=envtest.ca_pem, role="worker"))
    assert _run(capsys, "install", "worker", "--token-file", "/etc/k0s.token", "--env", "HTTP_PROXY=x").code == 0
    assert local.state()["node_name"] == socket.gethostname().lower()
    assert "Environment=HTTP_PROXY=x" in local.path("/etc/systemd/system/k0sworker.service").read_text()
    etcd = _run(capsys, "etcd", "leave")
    assert (etcd.code, etcd.err) == (1, "Error: etcd leave is a controller command: this node is a worker\n")


def test_install_reports_an_unreachable_server_and_a_malformed_token(
    local: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = pki.generate_ca("nobody", algorithm="ecdsa-p256")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _write_token(local, tokens.join_token(tokens.new_token(), server=f"https://127.0.0.1:{port}", ca_pem=ca.cert_pem,
                                          role="worker"))
    unreachable = _run(capsys, "install", "worker", "--token-file", "/etc/k0s.token")
    assert unreachable.code == 1
    assert f"cannot reach the API server https://127.0.0.1:{port}" in unreachable.err
    _write_token(local, "bm90IGEgdG9rZW4=")
    malformed = _run(capsys, "install", "worker", "--token-file", "/etc/k0s.token")
    assert malformed.err == ("Error: invalid join token in /etc/k0s.token: not a k0s join token (expected base64 of "
                             "a gzipped kubeconfig)\n")
    missing = _run(capsys, "install", "worker", "--token-file", "/etc/none.token")
    assert missing.err == "Error: failed to read join token file /etc/none.token: no such file or directory\n"


def test_a_first_controller_installs_without_a_token_starts_and_leaves_etcd(
    local: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    install = ["install", "controller", "--force", "--enable-dynamic-config", "--env", "AUTOPILOT_HOSTNAME=c1"]
    assert _run(capsys, *install).code == 0
    assert _run(capsys, "start").code == 0
    status = _run(capsys, "status", "-o", "json")
    assert json.loads(status.out) | {"Role": "controller", "Workloads": False} == json.loads(status.out)
    assert _run(capsys, "etcd", "leave", "--peer-address", "10.0.0.8").code == 0
    assert (local.state()["etcd_left"], local.state()["etcd_peer_address"]) == (True, "10.0.0.8")
    assert _run(capsys, "stop").code == 0
    assert _run(capsys, "reset").code == 0
    assert not local.path("/etc/systemd/system/k0scontroller.service").exists()


def test_a_controller_with_a_worker_and_the_cluster_ca_registers_its_own_node(
    local: Host, capsys: pytest.CaptureFixture[str], envtest: EnvTest
) -> None:
    # What the bootstrap data gives the first controller: the cluster CA and a k0s config naming the API address.
    for name, data in (("ca.crt", envtest.ca.cert_pem), ("ca.key", envtest.ca.key_pem)):
        target = local.path(f"/var/lib/k0s/pki/{name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    local.path("/etc/k0s.yaml").write_text(
        f"apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  api:\n"
        f"    externalAddress: 127.0.0.1\n    port: {envtest.port}\n")
    # A joining controller: its token is checked against the server (k0s's join API in reality), not used for the
    # kubelet, which gets its certificate from the controller's own CA.
    token = _new_token(envtest, role="controller")
    _write_token(local, tokens.join_token(token, server=envtest.url, ca_pem=envtest.ca_pem, role="controller"))
    install = ["install", "controller", "--force", "--enable-dynamic-config", "--enable-worker",
               "--config", "/etc/k0s.yaml", "--labels=k0smotron.io/machine-name=cp-0", "--token-file", "/etc/k0s.token",
               "--kubelet-extra-args=--hostname-override=cp-0"]
    assert _run(capsys, *install).code == 0
    started = _run(capsys, "start")
    assert started.code == 0, started.err
    node = envtest.get("v1", "Node", "cp-0")
    assert node is not None
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == "true"
    assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]
    assert _conditions(node)["Ready"] == "True"
    assert "Role: controller\nWorkloads: true\n" in _run(capsys, "status").out
    kubeconfig = local.path("/var/lib/k0s/kubelet.conf").read_text()
    assert "client-certificate: /var/lib/k0s/kubelet/pki/kubelet-client-current.pem" in kubeconfig
    assert base64.b64encode(envtest.ca_pem).decode() in kubeconfig
    assert not local.path("/var/lib/k0s/kubelet-bootstrap.conf").exists()
    assert [e.user for e in envtest.audit.events(resource="nodes", verb="create")] == ["system:node:cp-0"]
