"""K0sControllerConfig end to end: the first controller gets the CAs, later ones a controller join token; the gates."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest_asyncio
from ruamel.yaml import YAML

from k0smotron_core import pki, tokens
from k0smotron_core.envtest.capi import ChildCluster

from .conftest import Bootstrap

NS = "default"
CAPI = "cluster.x-k8s.io/v1beta1"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta1"
K0S_CONFIG = {"apiVersion": "k0s.k0sproject.io/v1beta1", "kind": "ClusterConfig",
              "metadata": {"name": "k0s"}, "spec": {"api": {"extraArgs": {"anonymous-auth": "true"}}}}
PKI = "/var/lib/k0s/pki"


async def _eventually(condition: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def _cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CAPI, "kind": "Cluster", "metadata": {"name": name, "namespace": NS},
            "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}}, **spec}}


def _machine(name: str, cluster: str, *, control_plane: bool = True) -> dict[str, Any]:
    labels = {"cluster.x-k8s.io/cluster-name": cluster}
    if control_plane:
        labels["cluster.x-k8s.io/control-plane"] = ""
    return {"apiVersion": CAPI, "kind": "Machine", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"clusterName": cluster,
                     "bootstrap": {"configRef": {"apiVersion": BOOTSTRAP, "kind": "K0sControllerConfig",
                                                 "name": name}},
                     "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                                           "kind": "AWSMachine", "name": name}}}


def _config_and_infra(name: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": BOOTSTRAP, "kind": "K0sControllerConfig", "metadata": {"name": name, "namespace": NS},
         "spec": {"version": "v1.30.1+k0s.0", "args": ["--enable-worker", "--no-taints"], "k0s": K0S_CONFIG}},
        {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachine",
         "metadata": {"name": name, "namespace": NS}, "spec": {}},
    ]


def _config(b: Bootstrap, name: str) -> dict[str, Any]:
    return b.capi.env.get(BOOTSTRAP, "K0sControllerConfig", name, NS) or {}


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition["type"] == type_:
            return dict(condition)
    return {}


def _user_data(b: Bootstrap, name: str) -> dict[str, Any]:
    secret = b.capi.env.get("v1", "Secret", name, NS)
    assert secret is not None
    assert base64.b64decode(secret["data"]["format"]) == b"cloud-config"
    text = base64.b64decode(secret["data"]["value"]).decode()
    assert text.startswith("## template: jinja\n#cloud-config\n")
    loaded: dict[str, Any] = YAML(typ="safe", pure=True).load(StringIO(text))
    return loaded


def _files(user_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in user_data["write_files"]}


def _install_command(user_data: dict[str, Any]) -> str:
    return str(next(line for line in user_data["runcmd"] if " install controller " in line))


async def _ready(b: Bootstrap, name: str) -> dict[str, Any]:
    config: dict[str, Any] = await _eventually(
        lambda: (c := _config(b, name)).get("status", {}).get("initialization", {}).get("dataSecretCreated") and c)
    return config


async def test_the_first_controller_gets_the_cas_and_the_others_a_controller_join_token(b3: Any) -> None:
    b, child, pairs = b3
    first = await _ready(b, "cp-0")
    assert first["status"]["dataSecretName"] == "cp-0"
    assert first["status"]["ready"] is True
    assert _condition(first, "DataSecretAvailable")["status"] == "True"
    assert _condition(first, "Ready")["status"] == "True"
    secret = b.capi.env.get("v1", "Secret", "cp-0", NS)
    assert secret is not None
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "cps"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "K0sControllerConfig"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == first["metadata"]["uid"]

    data = _user_data(b, "cp-0")
    files = _files(data)
    assert "/etc/k0s.token" not in files
    ca = b.capi.env.get("v1", "Secret", "cps-ca", NS)
    assert ca is not None
    expected = {
        "ca.crt": base64.b64decode(ca["data"]["tls.crt"]).decode(),
        "ca.key": base64.b64decode(ca["data"]["tls.key"]).decode(),
        "sa.pub": pairs["sa"].cert_pem.decode(), "sa.key": pairs["sa"].key_pem.decode(),
        "front-proxy-ca.crt": pairs["proxy"].cert_pem.decode(), "front-proxy-ca.key": pairs["proxy"].key_pem.decode(),
        "etcd/ca.crt": pairs["etcd"].cert_pem.decode(), "etcd/ca.key": pairs["etcd"].key_pem.decode(),
    }
    for path, content in expected.items():
        file = files[f"{PKI}/{path}"]
        assert file["content"].strip() == content.strip(), path
        assert file["permissions"] == ("0600" if path.endswith(".key") else "0644"), path
    assert YAML(typ="safe", pure=True).load(files["/etc/k0s.yaml"]["content"]) == K0S_CONFIG
    install = _install_command(data)
    for part in ("install controller", "--enable-worker", "--no-taints", "--config", "/etc/k0s.yaml",
                 "AUTOPILOT_HOSTNAME=cp-0"):
        assert part in install
    assert "--token-file" not in install
    assert any("K0S_VERSION=v1.30.1+k0s.0" in line for line in data["runcmd"])

    logs = b.logs.getvalue()
    for pair in pairs.values():
        assert pair.key_pem.decode().splitlines()[1] not in logs
    for name in ("cp-1", "cp-2"):
        config = await _ready(b, name)
        assert _condition(config, "DataSecretAvailable")["status"] == "True"
        data = _user_data(b, name)
        files = _files(data)
        assert not any(path.startswith(PKI) for path in files)
        token_file = files["/etc/k0s.token"]
        assert token_file["permissions"] == "0600"
        join = tokens.decode_join_token(token_file["content"].strip())
        assert join.user == "controller-bootstrap"
        assert join.role == "controller"
        assert join.server == f"https://{child.host}:9443"
        assert join.ca_pem == base64.b64decode(ca["data"]["tls.crt"])
        token_secret = child.env.get("v1", "Secret", f"bootstrap-token-{join.token.token_id}", "kube-system")
        assert token_secret is not None
        assert token_secret["metadata"]["labels"]["k0smotron.io/bootstrap-config-uid"] == config["metadata"]["uid"]
        decoded = {k: base64.b64decode(v).decode() for k, v in token_secret["data"].items()}
        assert decoded["usage-controller-join"] == "true"
        assert decoded["token-secret"] == join.token.secret
        assert decoded["description"] == "Controller bootstrap token generated by k0smotron"
        install = _install_command(data)
        for part in ("install controller", "--enable-worker", "--no-taints", "--config", "--token-file /etc/k0s.token",
                     f"AUTOPILOT_HOSTNAME={name}"):
            assert part in install
        assert join.token.secret not in b.logs.getvalue()
        assert token_file["content"].strip() not in b.logs.getvalue()
    machine = await _eventually(lambda: (m := b.capi.env.get(CAPI, "Machine", "cp-1", NS))
                                and m["spec"]["bootstrap"].get("dataSecretName") and m)
    assert machine["spec"]["bootstrap"]["dataSecretName"] == "cp-1"


async def test_a_controller_waits_for_the_control_plane_endpoint(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("no-endpoint"))
    b.capi.env.create(_machine("ne-0", "no-endpoint"))
    for obj in _config_and_infra("ne-0"):
        b.capi.env.create(obj)
    # Until the Machine owns the config the reason is WaitingForMachineOwner; then the endpoint gate applies.
    condition = await _eventually(
        lambda: (c := _condition(_config(b, "ne-0"), "DataSecretAvailable")).get("reason")
        == "WaitingForControlPlaneInitialization" and c)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False", "WaitingForControlPlaneInitialization", "Control plane endpoint is not set")
    assert _condition(_config(b, "ne-0"), "Ready")["status"] == "False"
    assert b.capi.env.get("v1", "Secret", "ne-0", NS) is None


async def test_a_controller_waits_while_no_control_plane_machine_is_active(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("no-cp"))
    await b.capi.child_cluster("no-cp")
    # The owner Machine lacks the control-plane label, so the Cluster has no active control-plane Machine.
    b.capi.env.create(_machine("nocp-0", "no-cp", control_plane=False))
    for obj in _config_and_infra("nocp-0"):
        b.capi.env.create(obj)
    condition = await _eventually(
        lambda: (c := _condition(_config(b, "nocp-0"), "DataSecretAvailable")).get("message", "").startswith("No")
        and c)
    assert (condition["status"], condition["reason"]) == ("False", "WaitingForControlPlaneInitialization")
    assert "no-cp" in condition["message"]
    assert b.capi.env.get("v1", "Secret", "nocp-0", NS) is None


async def test_the_first_controller_reports_a_missing_ca_secret(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("no-cas"))
    await b.capi.child_cluster("no-cas")
    b.capi.env.create(_machine("nocas-0", "no-cas"))
    for obj in _config_and_infra("nocas-0"):
        b.capi.env.create(obj)
    condition = await _eventually(
        lambda: (c := _condition(_config(b, "nocas-0"), "DataSecretAvailable")).get("reason")
        == "DataSecretGenerationFailed" and c)
    assert condition["message"] == "Secret default/no-cas-sa with key tls.crt does not exist"
    assert b.capi.env.get("v1", "Secret", "nocas-0", NS) is None


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def b3(bootstrap: Bootstrap) -> tuple[Bootstrap, ChildCluster, dict[str, pki.KeyPair]]:
    """Cluster `cps` with its child cluster, the -sa/-proxy/-etcd Secrets and three control-plane Machines
    (cp-0 oldest by name tie-break), each with a K0sControllerConfig."""
    b = bootstrap
    b.capi.env.create(_cluster("cps"))
    child = await b.capi.child_cluster("cps")
    pairs = pki.generate_cluster_certificates()
    for purpose in ("sa", "proxy", "etcd"):
        b.capi.env.create(pki.cluster_certificates_secret("cps", NS, purpose, pairs[purpose]))
    for i in range(3):
        b.capi.env.create(_machine(f"cp-{i}", "cps"))
    for i in range(3):
        for obj in _config_and_infra(f"cp-{i}"):
            b.capi.env.create(obj)
    return b, child, pairs
