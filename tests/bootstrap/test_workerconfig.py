"""K0sWorkerConfig end to end: the seed's Machine + K0sWorkerConfig, the waiting, paused and failing cases."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from k0smotron_core import tokens
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext
from k0smotron_core.envtest.capi import ChildCluster

from .conftest import Bootstrap

NS = "default"


async def _eventually(condition: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def _cluster(name: str, *, paused: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}}}
    if paused:
        spec["paused"] = True
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": {"name": name, "namespace": NS},
            "spec": spec}


def _machine_and_config(name: str, cluster: str, **spec: Any) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "metadata": {"name": name, "namespace": NS},
         "spec": {"clusterName": cluster,
                  "bootstrap": {"configRef": {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1",
                                              "kind": "K0sWorkerConfig", "name": f"{name}-config"}},
                  "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                                        "kind": "AWSMachine", "name": name}}},
        {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfig",
         "metadata": {"name": f"{name}-config", "namespace": NS}, "spec": {"version": "v1.27.2+k0s.0", **spec}},
        {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachine",
         "metadata": {"name": name, "namespace": NS}, "spec": {}},
    ]


def _config(b: Bootstrap, name: str) -> dict[str, Any]:
    return b.capi.env.get("bootstrap.cluster.x-k8s.io/v1beta1", "K0sWorkerConfig", name, NS) or {}


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition["type"] == type_:
            return dict(condition)
    return {}


def _user_data(b: Bootstrap, name: str) -> dict[str, Any]:
    secret = b.capi.env.get("v1", "Secret", name, NS)
    assert secret is not None
    text = base64.b64decode(secret["data"]["value"]).decode()
    assert text.startswith("## template: jinja\n#cloud-config\n")
    loaded: dict[str, Any] = YAML(typ="safe", pure=True).load(StringIO(text))
    return loaded


def _token_in(user_data: dict[str, Any]) -> str:
    return next(f["content"] for f in user_data["write_files"] if f["path"] == "/etc/k0s.token").strip()


async def test_the_seed_machine_gets_bootstrap_data_with_a_working_join_token(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("cp-test"))
    child: ChildCluster = await b.capi.child_cluster("cp-test")
    for obj in _machine_and_config("machine-test-0", "cp-test"):
        b.capi.env.create(obj)
    config = await _eventually(lambda: (c := _config(b, "machine-test-0-config")).get("status", {}).get(
        "initialization", {}).get("dataSecretCreated") and c)
    status = config["status"]
    assert status["dataSecretName"] == "machine-test-0-config"
    assert status["ready"] is True
    assert _condition(config, "DataSecretAvailable")["status"] == "True"
    assert _condition(config, "Ready")["status"] == "True"
    secret = b.capi.env.get("v1", "Secret", "machine-test-0-config", NS)
    assert secret is not None
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert base64.b64decode(secret["data"]["format"]) == b"cloud-config"
    assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "cp-test"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == config["metadata"]["uid"]
    join = tokens.decode_join_token(_token_in(_user_data(b, "machine-test-0-config")))
    assert join.server == f"https://{child.host}:{child.port}"
    assert join.user == "kubelet-bootstrap"
    token_secret = child.env.get("v1", "Secret", f"bootstrap-token-{join.token.token_id}", "kube-system")
    assert token_secret is not None
    assert base64.b64decode(token_secret["data"]["token-secret"]).decode() == join.token.secret
    expires = dt.datetime.strptime(base64.b64decode(token_secret["data"]["expiration"]).decode(),
                                   "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert expires > dt.datetime.now(dt.UTC)
    machine = await _eventually(lambda: (m := b.capi.env.get("cluster.x-k8s.io/v1beta1", "Machine",
                                                             "machine-test-0", NS))
                                and m["spec"]["bootstrap"].get("dataSecretName") and m)
    assert machine["spec"]["bootstrap"]["dataSecretName"] == "machine-test-0-config"
    assert join.token.secret not in b.logs.getvalue()


async def test_a_config_waits_for_the_control_plane_with_the_reason_saying_so(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("not-yet"))
    for obj in _machine_and_config("waiting-0", "not-yet"):
        b.capi.env.create(obj)
    condition = await _eventually(lambda: _condition(_config(b, "waiting-0-config"), "DataSecretAvailable"))
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False", "WaitingForControlPlaneInitialization", "Control plane is not ready yet")
    assert b.capi.env.get("v1", "Secret", "waiting-0-config", NS) is None
    await b.capi.child_cluster("not-yet")
    await _eventually(lambda: _condition(_config(b, "waiting-0-config"), "DataSecretAvailable").get("status")
                      == "True")


async def test_a_paused_cluster_is_left_alone_with_a_paused_condition(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("paused", paused=True))
    await b.capi.child_cluster("paused")
    for obj in _machine_and_config("paused-0", "paused"):
        b.capi.env.create(obj)

    def paused() -> dict[str, Any]:
        v1beta2 = (_config(b, "paused-0-config").get("status") or {}).get("v1beta2") or {}
        return next((c for c in v1beta2.get("conditions") or () if c["type"] == "Paused"), {})

    condition = await _eventually(paused)
    assert (condition["status"], condition["reason"]) == ("True", "Paused")
    assert "Cluster spec.paused is set to true" in condition["message"]
    await asyncio.sleep(0.5)
    assert b.capi.env.get("v1", "Secret", "paused-0-config", NS) is None


async def test_a_missing_content_secret_and_an_invalid_version_fail_with_a_clear_message(
    bootstrap: Bootstrap
) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("broken"))
    await b.capi.child_cluster("broken")
    for obj in _machine_and_config("files-0", "broken", files=[
            {"path": "/etc/app.conf", "contentFrom": {"secretRef": {"name": "app-config", "key": "conf"}}}]):
        b.capi.env.create(obj)
    for obj in _machine_and_config("version-0", "broken", version="1.27"):
        b.capi.env.create(obj)
    missing = await _eventually(lambda: (c := _condition(_config(b, "files-0-config"), "DataSecretAvailable"))
                                .get("reason") == "DataSecretGenerationFailed" and c)
    assert missing["message"] == "file /etc/app.conf: Secret default/app-config with key conf does not exist"
    invalid = await _eventually(lambda: (c := _condition(_config(b, "version-0-config"), "DataSecretAvailable"))
                                .get("reason") == "DataSecretGenerationFailed" and c)
    assert "1.27" in invalid["message"]
    b.capi.env.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-config", "namespace": NS},
                       "stringData": {"conf": "setting=1"}})
    await _eventually(lambda: _condition(_config(b, "files-0-config"), "DataSecretAvailable").get("status") == "True",
                      timeout_s=25)
    files = {f["path"]: f["content"] for f in _user_data(b, "files-0-config")["write_files"]}
    assert files["/etc/app.conf"] == "setting=1"


async def test_the_join_token_is_deleted_once_the_node_has_joined(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("joins"))
    child = await b.capi.child_cluster("joins")
    for obj in _machine_and_config("joins-0", "joins"):
        b.capi.env.create(obj)
    await _eventually(lambda: _condition(_config(b, "joins-0-config"), "DataSecretAvailable").get("status") == "True")
    join = tokens.decode_join_token(_token_in(_user_data(b, "joins-0-config")))
    name = f"bootstrap-token-{join.token.token_id}"
    assert child.env.get("v1", "Secret", name, "kube-system") is not None
    rt = b.capi.env.resource_type("cluster.x-k8s.io/v1beta1", "Machine")
    machine = b.capi.env.get("cluster.x-k8s.io/v1beta1", "Machine", "joins-0", NS)
    assert machine is not None
    b.capi.env.storage.patch(rt, NS, "joins-0", "application/merge-patch+json",
                             {"status": {"nodeRef": {"apiVersion": "v1", "kind": "Node", "name": "joins-0"}}},
                             RequestContext(field_manager="test"), subresource="status")
    config = _config(b, "joins-0-config")
    b.capi.env.storage.patch(b.capi.env.resource_type("bootstrap.cluster.x-k8s.io/v1beta1", "K0sWorkerConfig"), NS,
                             "joins-0-config", "application/merge-patch+json",
                             {"metadata": {"annotations": {"test/poke": "1"}}}, RequestContext(field_manager="test"))
    assert config
    await _eventually(lambda: child.env.get("v1", "Secret", name, "kube-system") is None)


async def test_deleting_a_config_deletes_its_join_token_at_once(bootstrap: Bootstrap) -> None:
    b = bootstrap
    b.capi.env.create(_cluster("deletes"))
    child = await b.capi.child_cluster("deletes")
    for obj in _machine_and_config("deletes-0", "deletes"):
        b.capi.env.create(obj)
    await _eventually(lambda: _condition(_config(b, "deletes-0-config"), "DataSecretAvailable").get("status")
                      == "True")
    join = tokens.decode_join_token(_token_in(_user_data(b, "deletes-0-config")))
    name = f"bootstrap-token-{join.token.token_id}"
    assert child.env.get("v1", "Secret", name, "kube-system") is not None
    rt = b.capi.env.resource_type("bootstrap.cluster.x-k8s.io/v1beta1", "K0sWorkerConfig")
    b.capi.env.storage.delete(rt, NS, "deletes-0-config", DeleteOptions(), RequestContext(field_manager="test"))
    await _eventually(lambda: child.env.get("v1", "Secret", name, "kube-system") is None)
