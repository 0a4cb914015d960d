"""The cloud-config text: header, write_files order and shape, runcmd order, custom user data, token handling."""

from __future__ import annotations

import shlex

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k0smotron_core.api.bootstrap import K0sConfigSpec, K0sWorkerConfigSpec
from k0smotron_core.cloudinit import (
    SENTINEL_COMMAND,
    BootstrapDataError,
    BootstrapFile,
    render_controller,
    render_worker,
    worker_commands,
    worker_start_command,
)

from ._cloud_init import load_cloud_config

TOKEN = "H4sIAAAAAAAC_secret-join-token_value"

# The user guide's examples (bootstrap provider page, "Pre/Post Start Commands").
PRE_START = [
    "apt-get update && apt-get install -y curl jq",
    "mkdir -p /etc/k0s/monitoring",
    "echo 'export MONITORING_ENABLED=true' >> /etc/environment",
]
POST_START = [
    "systemctl enable monitoring-agent",
    "systemctl start monitoring-agent",
    "kubectl get nodes --kubeconfig=/var/lib/k0s/pki/admin.conf",
    "kubectl describe node $(hostname) --kubeconfig=/var/lib/k0s/pki/admin.conf",
]


def _unwrap(line: str) -> str:
    """`sh -c '<command>' || exit 1` → `<command>`."""
    words = shlex.split(line)
    assert words[:2] == ["sh", "-c"] and words[3:] == ["||", "exit", "1"], line
    return words[2]


def _worker_spec(**fields: object) -> K0sWorkerConfigSpec:
    return K0sWorkerConfigSpec.from_dict({"version": "v1.27.2+k0s.0", "preStartCommands": PRE_START,
                                         "postStartCommands": POST_START, **fields})


def test_worker_user_data_follows_the_documented_order() -> None:
    extra = BootstrapFile(path="/etc/extra.conf", content="a=1\nb=2\n", permissions="0640")
    user_data = render_worker(_worker_spec(), machine_name="md-0-abc", join_token=TOKEN, files=[extra])

    assert user_data.splitlines()[:2] == ["## template: jinja", "#cloud-config"]
    document = load_cloud_config(user_data)
    assert list(document) == ["write_files", "runcmd"]
    assert document["write_files"] == [
        {"path": "/etc/k0s.token", "content": TOKEN, "permissions": "0600"},
        {"path": "/etc/extra.conf", "content": "a=1\nb=2\n", "permissions": "0640"},
    ]
    assert [_unwrap(line) for line in document["runcmd"]] == [
        *PRE_START,
        "curl -sSfL --retry 5 https://get.k0s.sh | K0S_INSTALL_PATH=/usr/local/bin K0S_VERSION=v1.27.2+k0s.0 sh",
        "/usr/local/bin/k0s install worker --token-file /etc/k0s.token --labels=k0smotron.io/machine-name=md-0-abc"
        ' --kubelet-extra-args="--hostname-override=md-0-abc"',
        "(command -v systemctl >/dev/null 2>&1 && systemctl start k0sworker)"
        " || (command -v rc-service >/dev/null 2>&1 && rc-service k0sworker start)"
        " || (command -v service >/dev/null 2>&1 && service k0sworker start)"
        ' || (echo "Not a supported init system"; false)',
        *POST_START,
        "mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete",
    ]


def test_working_dir_install_dir_and_preinstalled_k0s() -> None:
    spec = _worker_spec(workingDir="/opt/k0s/", k0sInstallDir="/opt/bin", preInstalledK0s=True,
                        preStartCommands=None, postStartCommands=None, useSystemHostname=True)
    commands = worker_commands(spec, machine_name="m")
    assert commands == [
        "/opt/bin/k0s install worker --token-file /opt/k0s/k0s.token --labels=k0smotron.io/machine-name=m",
        worker_start_command(),
        SENTINEL_COMMAND,
    ]
    document = load_cloud_config(render_worker(spec, machine_name="m", join_token=TOKEN, files=[]))
    assert document["write_files"][0]["path"] == "/opt/k0s/k0s.token"


def test_custom_user_data_is_appended_as_a_second_cloud_config() -> None:
    custom = "#cloud-config\nmerge_how: 'list(append)+dict(recurse_array)+str()'\nbootcmd:\n- echo hi"
    user_data = render_worker(_worker_spec(), machine_name="m", join_token=TOKEN, files=[], custom_user_data=custom)
    generated = render_worker(_worker_spec(), machine_name="m", join_token=TOKEN, files=[])
    assert user_data == generated + "\n#cloud-config\n" + custom
    assert load_cloud_config(user_data)["bootcmd"] == ["echo hi"]


def test_join_token_appears_only_as_token_file_content() -> None:
    user_data = render_worker(_worker_spec(), machine_name="m", join_token=TOKEN, files=[])
    assert user_data.count(TOKEN) == 1
    document = load_cloud_config(user_data)
    assert [f["path"] for f in document["write_files"] if f["content"] == TOKEN] == ["/etc/k0s.token"]
    assert all(TOKEN not in line for line in document["runcmd"])
    assert TOKEN not in repr(BootstrapFile(path="/etc/k0s.token", content=TOKEN))


def test_jinja_delimiters_in_commands_and_files_survive_cloud_inits_template_pass() -> None:
    command = "docker inspect -f '{{.State.Status}}' x {%raw%} {# not a comment #}"
    content = "{{ value }}\n{% if %}\n"
    spec = _worker_spec(preStartCommands=[command])
    document = load_cloud_config(render_worker(spec, machine_name="m", join_token=TOKEN,
                                               files=[BootstrapFile(path="/etc/t", content=content)]))
    assert _unwrap(document["runcmd"][0]) == command
    assert document["write_files"][1]["content"] == content


@settings(max_examples=200, deadline=None)
@given(commands=st.lists(st.text(min_size=1), max_size=3), content=st.text())
def test_any_text_reaches_the_node_unchanged(commands: list[str], content: str) -> None:
    spec = _worker_spec(preStartCommands=commands)
    try:
        user_data = render_worker(spec, machine_name="m", join_token=TOKEN,
                                  files=[BootstrapFile(path="/etc/any", content=content)])
        document = load_cloud_config(user_data)
    except jinja2.TemplateSyntaxError as error:  # pragma: no cover - would be a bug
        pytest.fail(f"cloud-init's Jinja pass rejects the user data: {error}")
    assert [_unwrap(line) for line in document["runcmd"][: len(commands)]] == commands
    assert document["write_files"][1]["content"] == content


def test_first_controller_gets_config_and_cas_and_no_token() -> None:
    k0s = {"spec": {"api": {"k0sApiPort": 9443}}, "apiVersion": "k0s.k0sproject.io/v1beta1"}
    spec = K0sConfigSpec.from_dict({"k0s": k0s,
                                    "args": ["--enable-worker", "--kubelet-extra-args=--max-pods=50"]})
    ca = [BootstrapFile(path="/var/lib/k0s/pki/ca.crt", content="CERT"),
          BootstrapFile(path="/var/lib/k0s/pki/ca.key", content="KEY")]
    document = load_cloud_config(render_controller(spec, version="v1.32.1+k0s.0", machine_name="cp-0", join_token=None,
                                                   ca_files=ca, files=[]))
    assert [(f["path"], f["permissions"]) for f in document["write_files"]] == [
        ("/etc/k0s.yaml", "0644"), ("/var/lib/k0s/pki/ca.crt", "0644"), ("/var/lib/k0s/pki/ca.key", "0644")]
    assert document["write_files"][0]["content"] == (
        '{"apiVersion":"k0s.k0sproject.io/v1beta1","spec":{"api":{"k0sApiPort":9443}}}')
    commands = [_unwrap(line) for line in document["runcmd"]]
    assert commands[1:3] == [
        "/usr/local/bin/k0s install controller --force --enable-dynamic-config --env AUTOPILOT_HOSTNAME=cp-0"
        " --labels=k0smotron.io/machine-name=cp-0 --enable-worker --config /etc/k0s.yaml"
        ' --kubelet-extra-args="--hostname-override=cp-0 --max-pods=50"',
        "/usr/local/bin/k0s start",
    ]
    assert commands[-1] == SENTINEL_COMMAND


def test_joining_controller_writes_the_token_and_passes_token_file_last() -> None:
    spec = K0sConfigSpec.from_dict({"args": ["--no-taints"], "workingDir": "/var/k0s", "preStartCommands": ["true"]})
    user_data = render_controller(spec, version="v1.32.1+k0s.0", machine_name="cp-1", join_token=TOKEN, ca_files=[],
                                  files=[BootstrapFile(path="/etc/x", content="x")])
    assert user_data.count(TOKEN) == 1
    document = load_cloud_config(user_data)
    assert document["write_files"][:2] == [
        {"path": "/var/k0s/k0s.token", "content": TOKEN, "permissions": "0600"},
        {"path": "/etc/x", "content": "x", "permissions": "0644"},
    ]
    assert _unwrap(document["runcmd"][2]) == (
        "/usr/local/bin/k0s install controller --force --enable-dynamic-config --env AUTOPILOT_HOSTNAME=cp-1"
        " --no-taints --token-file /var/k0s/k0s.token")


@pytest.mark.parametrize(("path", "permissions"),
                         [("relative/path", "0644"), ("/etc/x", "rw-r--r--"), ("/etc/x", "999")])
def test_bad_file_entries_are_refused(path: str, permissions: str) -> None:
    with pytest.raises(BootstrapDataError):
        BootstrapFile(path=path, content=TOKEN, permissions=permissions)
