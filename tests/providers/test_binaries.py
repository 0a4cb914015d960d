"""The three provider binaries as processes against envtest: probes, metrics, signals, usage errors, unreachable
API servers and leader election between two replicas."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from k0smotron_core.envtest import EnvTest
from k0smotron_core.runtime._leaderelection import leader_election_id

BINARIES = ["k0smotron-bootstrap", "k0smotron-controlplane", "k0smotron-infrastructure"]
# The lease is named after k0smotron's --enable-controller value, so it matches the reference implementation's.
ROLES = {"k0smotron-bootstrap": "bootstrap", "k0smotron-controlplane": "control-plane",
         "k0smotron-infrastructure": "infrastructure"}
METRIC_NAMES = ["controller_runtime_reconcile_total", "workqueue_depth", "leader_election_master_status",
                "rest_client_requests_total"]
FAST_LEADER_ELECTION = ["--leader-elect", "--leader-elect-lease-duration", "1500ms", "--leader-elect-renew-deadline",
                        "1s", "--leader-elect-retry-period", "200ms", "--leader-election-namespace", "default"]
CURL = shutil.which("curl")

pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed on this machine")


def _script(name: str) -> str:
    """The console script installed next to this interpreter (by `pip install -e .`)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `.venv/bin/pip install -e .`")
    return str(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(home: Path) -> dict[str, str]:
    """No in-cluster configuration, no $KUBECONFIG, no ~/.kube/config: only what the test passes."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "K0SMOTRON_FEATURE_GATES")}
    env["HOME"] = str(home)
    return env


def _curl(url: str) -> tuple[int, str]:
    assert CURL is not None
    done = subprocess.run([CURL, "-s", "--max-time", "2", "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, check=False)
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


def _eventually(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.1)


class Provider:
    """One running provider process with its own probe and metrics ports and a log file."""

    def __init__(self, name: str, kubeconfig: Path, workdir: Path, *extra: str) -> None:
        self.name = name
        self.probe_port = _free_port()
        self.metrics_port = _free_port()
        self.log_path = workdir / f"{name}-{self.probe_port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [_script(name), "--kubeconfig", str(kubeconfig),
             "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}",
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, env=_environment(workdir),
        )

    def probe(self, endpoint: str) -> tuple[int, str]:
        return _curl(f"http://127.0.0.1:{self.probe_port}/{endpoint}")

    def metrics(self) -> str:
        return _curl(f"http://127.0.0.1:{self.metrics_port}/metrics")[1]

    def leader_status(self) -> float | None:
        """leader_election_master_status for this provider's lease, None while not reported."""
        lease = re.escape(leader_election_id(ROLES[self.name]))
        found = re.search(rf'^leader_election_master_status\{{name="{lease}"\}} (\S+)$', self.metrics(), re.M)
        return float(found.group(1)) if found else None

    def wait_ready(self, timeout_s: float = 20) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log()}"
            return self.probe("readyz") == (200, "ok")
        _eventually(ready, timeout_s, f"{self.name} ready\n{self.log()}")

    def terminate(self, timeout_s: float = 10) -> tuple[int, float]:
        """SIGTERM; the exit status and how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout_s)
        return code, time.monotonic() - started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[Callable[..., Provider]]:
    started: list[Provider] = []

    def start(name: str, kubeconfig: Path, *extra: str) -> Provider:
        provider = Provider(name, kubeconfig, tmp_path, *extra)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.close()


def _run(name: str, *argv: str, home: Path, timeout_s: float = 20) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([_script(name), *argv], capture_output=True, text=True, timeout=timeout_s,
                          env=_environment(home), check=False)
    return done, time.monotonic() - started


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("name", BINARIES)
def test_serves_probes_and_metrics_and_exits_0_on_sigterm(
    name: str, envtest_kubeconfig: Path, providers: Callable[..., Provider]
) -> None:
    provider = providers(name, envtest_kubeconfig)
    provider.wait_ready()
    assert provider.probe("healthz") == (200, "ok")
    assert provider.probe("readyz") == (200, "ok")
    metrics = provider.metrics()
    for metric in METRIC_NAMES:
        assert metric in metrics, metric
    # It asked the API server for /version with its own user agent, and counted the request.
    assert re.search(r'^rest_client_requests_total\{.*code="200".*\} [1-9]', metrics, re.M), metrics
    code, took = provider.terminate()
    assert code == 0, provider.log()
    assert took < 5


@pytest.mark.parametrize("name", BINARIES)
def test_requests_carry_the_binarys_user_agent(
    name: str, envtest: EnvTest, envtest_kubeconfig: Path, providers: Callable[..., Provider]
) -> None:
    provider = providers(name, envtest_kubeconfig)
    provider.wait_ready()
    assert envtest.audit.count(user_agent=name) >= 1
    provider.terminate()


@pytest.mark.parametrize("name", BINARIES)
def test_a_bad_flag_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    done, _ = _run(name, "--concurrency", "zero", home=tmp_path)
    assert done.returncode == 2
    assert _one_line(done.stderr) == f'{name}: argument --concurrency: "zero" is not a positive integer (see --help)'


@pytest.mark.parametrize(("name", "accepted"), [
    ("k0smotron-bootstrap", {"CloudInitVars"}),
    ("k0smotron-controlplane", {"CloudInitVars", "InPlaceUpdates"}),
    ("k0smotron-infrastructure", set()),
])
def test_each_binary_knows_its_own_feature_gates(name: str, accepted: set[str], tmp_path: Path) -> None:
    for gate in ("CloudInitVars", "InPlaceUpdates"):
        # The gate is read before --help acts, so an unknown one fails and a known one gets to the help text.
        done, _ = _run(name, "--feature-gates", f"{gate}=true", "--help", home=tmp_path)
        if gate in accepted:
            assert done.returncode == 0, done.stderr
            assert f"{gate}=false" in done.stdout
        else:
            assert done.returncode == 2
            assert f'unknown feature gate "{gate}"' in _one_line(done.stderr)


@pytest.mark.parametrize("name", BINARIES)
def test_help_lists_every_flag(name: str, tmp_path: Path) -> None:
    done, _ = _run(name, "--help", home=tmp_path)
    assert done.returncode == 0
    for flag in ["--kubeconfig", "--namespace", "--watch-filter", "--concurrency", "--kube-api-qps",
                 "--kube-api-burst", "--leader-elect", "--leader-elect-lease-duration", "--leader-elect-renew-deadline",
                 "--leader-elect-retry-period", "--leader-election-namespace", "--metrics-bind-address",
                 "--health-probe-bind-address", "--log-format", "--log-level", "--feature-gates",
                 "--graceful-shutdown-timeout", "--sync-period"]:
        assert flag in done.stdout, flag


@pytest.mark.parametrize("name", BINARIES)
def test_an_unreachable_api_server_is_one_line_and_exit_1(name: str, envtest: EnvTest, tmp_path: Path) -> None:
    closed = _free_port()
    kubeconfig = tmp_path / "closed.kubeconfig"
    kubeconfig.write_text(envtest.kubeconfig_yaml().replace(envtest.url, f"https://127.0.0.1:{closed}"))
    done, took = _run(name, "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0",
                      "--health-probe-bind-address", "0", home=tmp_path)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith(f"{name}: cannot reach the API server at https://127.0.0.1:{closed}: "), line
    assert took < 5


def test_a_missing_kubeconfig_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done, _ = _run("k0smotron-bootstrap", "--kubeconfig", str(tmp_path / "nothing-here"), home=tmp_path)
    assert done.returncode == 1
    assert _one_line(done.stderr) == (
        f"k0smotron-bootstrap: cannot load the kubeconfig: no file at {tmp_path / 'nothing-here'}")
    done, _ = _run("k0smotron-bootstrap", home=tmp_path)  # nothing in the environment or home either
    assert done.returncode == 1
    assert _one_line(done.stderr).startswith("k0smotron-bootstrap: cannot reach the API server: no kubeconfig:")


@pytest.mark.parametrize(("content", "reason"), [
    ("clusters: [", "ParserError: while parsing a flow node; expected the node content"),
    ("apiVersion: v1\nkind: Config\n", "ConfigException: Invalid kube-config file. Expected key current-context"),
])
def test_a_broken_kubeconfig_is_one_line_and_exit_1(tmp_path: Path, content: str, reason: str) -> None:
    kubeconfig = tmp_path / "broken.kubeconfig"
    kubeconfig.write_text(content)
    done, _ = _run("k0smotron-infrastructure", "--kubeconfig", str(kubeconfig), home=tmp_path)
    assert done.returncode == 1
    assert _one_line(done.stderr).startswith(f"k0smotron-infrastructure: cannot load the kubeconfig: {reason}")


def test_a_port_in_use_is_one_line_and_exit_1(envtest_kubeconfig: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, _ = _run("k0smotron-bootstrap", "--kubeconfig", str(envtest_kubeconfig),
                       "--metrics-bind-address", f"127.0.0.1:{port}", "--health-probe-bind-address", "0",
                       home=tmp_path)
    assert done.returncode == 1
    # Logs of the start-up may come first; the reason is the last line, and there is no traceback.
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("k0smotron-bootstrap: ") and f"cannot listen on '127.0.0.1:{port}'" in last, done.stderr


def test_of_two_replicas_one_leads_and_the_other_takes_over_after_sigterm(
    envtest: EnvTest, envtest_kubeconfig: Path, providers: Callable[..., Provider]
) -> None:
    name = "k0smotron-controlplane"
    lease_name = leader_election_id(ROLES[name])
    replicas = [providers(name, envtest_kubeconfig, *FAST_LEADER_ELECTION) for _ in range(2)]
    for replica in replicas:
        replica.wait_ready()

    def statuses() -> list[float]:
        return sorted(replica.leader_status() or 0.0 for replica in replicas)

    _eventually(lambda: statuses() == [0.0, 1.0], 10, "one leader")
    time.sleep(2)  # more than a lease duration: still exactly one
    assert statuses() == [0.0, 1.0]
    leader, follower = sorted(replicas, key=lambda r: -(r.leader_status() or 0))
    lease = envtest.get("coordination.k8s.io/v1", "Lease", lease_name, "default")
    assert lease is not None and lease["spec"]["holderIdentity"]
    holder = lease["spec"]["holderIdentity"]
    transitions = lease["spec"].get("leaseTransitions", 0)

    code, _ = leader.terminate()
    assert code == 0, leader.log()
    stopped = time.monotonic()
    _eventually(lambda: follower.leader_status() == 1.0, 5, f"follower leads\n{follower.log()}")
    # The leader released the lease on its way out: no waiting for it to expire.
    assert time.monotonic() - stopped < 1.5
    lease = envtest.get("coordination.k8s.io/v1", "Lease", lease_name, "default")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] not in ("", holder)
    assert lease["spec"]["leaseTransitions"] == transitions + 1
    code, _ = follower.terminate()
    assert code == 0, follower.log()


@pytest.mark.parametrize(("name", "lease"), [
    ("k0smotron-bootstrap", "ca4c50b905dc21ea17a10549a6f5944f.k0smotron.io"),
    ("k0smotron-controlplane", "f6ddf68f34963ade25bce356fc63d572.k0smotron.io"),
    ("k0smotron-infrastructure", "6e3301c94e4de897ec67fa9735a848d5.k0smotron.io"),
])
def test_each_binary_elects_on_the_lease_the_reference_implementation_uses(name: str, lease: str) -> None:
    assert leader_election_id(ROLES[name]) == lease


def test_a_missing_crd_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with EnvTest().running_in_thread() as bare:
        kubeconfig = bare.write_kubeconfig(tmp_path / "bare.kubeconfig")
        done, _ = _run("k0smotron-bootstrap", "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0",
                       "--health-probe-bind-address", "0", home=tmp_path)
    assert done.returncode == 1
    assert _one_line(done.stderr) == (
        "k0smotron-bootstrap: a CustomResourceDefinition this provider serves is not installed: "
        'no matches for kind "K0sWorkerConfig" in version "bootstrap.cluster.x-k8s.io/v1beta1"')
