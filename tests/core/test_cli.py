"""The `k0smotron-core` command (k0smotron_core.cli)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from k0smotron_core import cli, pki, tokens
from k0smotron_core.envtest import EnvTest

KUBECTL = Path(sys.executable).parent / "kubectl"
SERVER = "https://10.0.0.1:6443"
TOKEN = "abc123.0123456789abcdef"


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.generate_ca("kubernetes")


@pytest.fixture
def ca_file(ca: pki.KeyPair, tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_bytes(ca.cert_pem)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _create(capsys: pytest.CaptureFixture[str], ca_file: Path, *extra: str) -> str:
    code, out, err = _run(capsys, "token", "create", "--server", SERVER, "--ca-file", str(ca_file), *extra)
    assert (code, err) == (0, "")
    return out.strip()


def _load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def test_create_prints_a_worker_join_token_for_a_fresh_token(
    capsys: pytest.CaptureFixture[str], ca: pki.KeyPair, ca_file: Path
) -> None:
    first = tokens.decode_join_token(_create(capsys, ca_file))
    second = tokens.decode_join_token(_create(capsys, ca_file))
    assert (first.server, first.ca_pem, first.role) == (SERVER, ca.cert_pem, "worker")
    assert first.token != second.token


def test_create_with_a_given_token_and_role(capsys: pytest.CaptureFixture[str], ca: pki.KeyPair, ca_file: Path) -> None:
    printed = _create(capsys, ca_file, "--role", "controller", "--token", TOKEN)
    assert printed == tokens.join_token(tokens.BootstrapToken.parse(TOKEN), server=SERVER, ca_pem=ca.cert_pem,
                                        role="controller")


def test_create_writes_the_bootstrap_token_secret_owner_readable_only(
    capsys: pytest.CaptureFixture[str], ca_file: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "secret.yaml"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    decoded = tokens.decode_join_token(_create(capsys, ca_file, "--secret-manifest", str(manifest), "--ttl", "24h"))
    after = dt.datetime.now(dt.UTC)
    assert manifest.stat().st_mode & 0o777 == 0o600
    secret = _load_yaml(manifest)
    expiration = dt.datetime.fromisoformat(secret["stringData"].pop("expiration"))
    assert before + dt.timedelta(hours=24) <= expiration <= after + dt.timedelta(hours=24)
    expected = tokens.bootstrap_token_secret(decoded.token, role="worker", now=before)
    del expected["stringData"]["expiration"]
    assert secret == expected


def test_create_defaults_the_secret_to_30_minutes(
    capsys: pytest.CaptureFixture[str], ca_file: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "secret.yaml"
    _create(capsys, ca_file, "--role", "controller", "--secret-manifest", str(manifest))
    expiration = dt.datetime.fromisoformat(_load_yaml(manifest)["stringData"]["expiration"])
    remaining = expiration - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < remaining <= dt.timedelta(minutes=30)
    assert _load_yaml(manifest)["stringData"]["usage-controller-join"] == "true"


def test_decode_shows_everything_but_the_secret(
    capsys: pytest.CaptureFixture[str], ca_file: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "k0s.token"
    token_file.write_text(_create(capsys, ca_file, "--token", TOKEN) + "\n")
    code, out, err = _run(capsys, "token", "decode", str(token_file))
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"server: {SERVER}", "user: kubelet-bootstrap", "role: worker", "ca: CN=kubernetes",
                                "token-id: abc123"]
    assert "0123456789abcdef" not in out


def test_decode_from_stdin_with_the_secret(
    capsys: pytest.CaptureFixture[str], ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    join = _create(capsys, ca_file, "--token", TOKEN, "--role", "controller")
    monkeypatch.setattr(sys, "stdin", io.StringIO(join))
    code, out, err = _run(capsys, "token", "decode", "--show-secret")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == ["user: controller-bootstrap", "role: controller", "ca: CN=kubernetes",
                                    "token-id: abc123", f"token: {TOKEN}"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "k0smotron-core: the following arguments are required: COMMAND"),
        (["token"], "k0smotron-core token: the following arguments are required: COMMAND"),
        (["token", "create"], "k0smotron-core token create: the following arguments are required: --server, --ca-file"),
        (["token", "create", "--server", "http://h", "--ca-file", "x"], "--server must be an https:// URL"),
        (["token", "create", "--server", SERVER, "--ca-file", "x", "--role", "admin"], "invalid choice: 'admin'"),
        (["token", "create", "--server", SERVER, "--ca-file", "x", "--ttl", "0m"], "not a positive duration"),
        (["token", "create", "--server", SERVER, "--ca-file", "x", "--token", "abc123.SECRETSECRETSECRE"],
         "--token: token secret must be 16 characters of [a-z0-9]"),
    ],
)
def test_wrong_invocations_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and message in err
    assert "SECRETSECRETSECRE" not in err


def test_failures_exit_1_with_one_line(capsys: pytest.CaptureFixture[str], ca_file: Path, tmp_path: Path) -> None:
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("hello")
    garbage = tmp_path / "garbage"
    garbage.write_text("s3cr3t garbage")
    cases = [
        (["token", "create", "--server", SERVER, "--ca-file", str(tmp_path / "none")],
         f"k0smotron-core: error: cannot read CA file {tmp_path / 'none'}: No such file or directory"),
        (["token", "create", "--server", SERVER, "--ca-file", str(not_a_cert)],
         f"k0smotron-core: error: CA file {not_a_cert} holds no PEM certificate"),
        (["token", "create", "--server", SERVER, "--ca-file", str(ca_file), "--secret-manifest", str(tmp_path)],
         f"k0smotron-core: error: cannot write {tmp_path}: Is a directory"),
        (["token", "decode", str(tmp_path / "none")],
         f"k0smotron-core: error: cannot read {tmp_path / 'none'}: No such file or directory"),
        (["token", "decode", str(garbage)],
         "k0smotron-core: error: not a k0s join token (expected base64 of a gzipped kubeconfig)"),
    ]
    for argv, message in cases:
        code, out, err = _run(capsys, *argv)
        assert (code, out, err) == (1, "", message + "\n")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "token", "create", "--help")
    assert code == 0
    assert "--secret-manifest" in out


def test_console_script_is_installed(ca_file: Path) -> None:
    script = Path(sys.executable).parent / "k0smotron-core"
    done = subprocess.run([str(script), "token", "create", "--server", SERVER, "--ca-file", str(ca_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert tokens.decode_join_token(done.stdout).server == SERVER


@pytest.mark.kubectl
def test_the_secret_manifest_applies_to_a_cluster(
    capsys: pytest.CaptureFixture[str], ca_file: Path, tmp_path: Path, envtest: EnvTest, envtest_kubeconfig: Path
) -> None:
    manifest = tmp_path / "secret.yaml"
    decoded = tokens.decode_join_token(_create(capsys, ca_file, "--secret-manifest", str(manifest)))
    kubectl = [str(KUBECTL), "--kubeconfig", str(envtest_kubeconfig), "--request-timeout", "20s"]
    applied = subprocess.run([*kubectl, "apply", "-f", str(manifest)], capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    stored = envtest.get("v1", "Secret", decoded.token.secret_name, "kube-system")
    assert stored is not None
    assert stored["type"] == "bootstrap.kubernetes.io/token"


# --- render-bootstrap ----------------------------------------------------------------------------------------------

WORKER_CONFIG = """apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-config
spec:
  version: v1.27.2+k0s.0
  preStartCommands:
    - "echo pre"
  postStartCommands:
    - "echo post"
"""


def test_render_bootstrap_prints_the_cloud_config_of_a_worker_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(WORKER_CONFIG)
    token = tmp_path / "token"
    token.write_text("the-join-token\n")

    assert cli.main(["render-bootstrap", "-f", str(config), "--token-file", str(token)]) == 0

    out = capsys.readouterr().out
    assert out.startswith("## template: jinja\n#cloud-config\n")
    rendered = YAML(typ="safe").load(out)
    assert rendered["write_files"][0] == {"path": "/etc/k0s.token", "content": "the-join-token",
                                          "permissions": "0600"}
    commands = rendered["runcmd"]
    assert commands[0] == "sh -c 'echo pre' || exit 1"
    assert "install worker" in commands[2] and "--labels=k0smotron.io/machine-name=worker-config" in commands[2]
    assert commands[-2] == "sh -c 'echo post' || exit 1"


def test_render_bootstrap_of_a_worker_without_a_token_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(WORKER_CONFIG)

    assert cli.main(["render-bootstrap", "-f", str(config)]) == 2
    assert capsys.readouterr().err == "k0smotron-core: error: a worker needs --token-file\n"


def test_render_bootstrap_of_an_invalid_config_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(WORKER_CONFIG.replace('    - "echo pre"', "    echo pre"))
    token = tmp_path / "token"
    token.write_text("t")

    assert cli.main(["render-bootstrap", "-f", str(config), "--token-file", str(token)]) == 1
    assert capsys.readouterr().err.startswith("k0smotron-core: error: spec.preStartCommands: ")
