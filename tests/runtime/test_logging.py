from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
import structlog

from k0smotron_core.runtime._logging import (
    configure_logging,
    get_logger,
    is_secret_key,
    reconcile_logger,
    with_object,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where configure_logging writes; the global logging set-up is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_start_with_ts_level_logger_and_msg(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    get_logger("k0smotron.test").info("machine provisioned", attempt=2)
    [line] = json_lines(stream)
    assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    assert line["level"] == "info"
    assert line["logger"] == "k0smotron.test"
    assert line["msg"] == "machine provisioned"
    assert line["attempt"] == 2
    stamp = dt.datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=1)


def test_a_reconcile_logger_binds_cluster_apis_conventional_keys(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    log = reconcile_logger("k0sworkerconfig", "K0sWorkerConfig", "bootstrap.cluster.x-k8s.io", "default", "md-0-x",
                           "5b1c1a3e")
    log = with_object(with_object(log, "Cluster", "default", "demo"), "Machine", "default", "md-0-x")
    log.info("generated bootstrap data")
    [line] = json_lines(stream)
    assert {key: line[key] for key in list(line)[4:]} == {
        "controller": "k0sworkerconfig",
        "controllerGroup": "bootstrap.cluster.x-k8s.io",
        "controllerKind": "K0sWorkerConfig",
        "K0sWorkerConfig": "default/md-0-x",
        "namespace": "default",
        "name": "md-0-x",
        "reconcileID": "5b1c1a3e",
        "Cluster": "default/demo",
        "Machine": "default/md-0-x",
    }


def test_a_cluster_scoped_object_is_named_without_a_namespace(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    with_object(get_logger("t"), "Node", "", "worker-1").info("cordoned")
    assert json_lines(stream)[0]["Node"] == "worker-1"


def test_context_bound_with_contextvars_reaches_every_line(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    with structlog.contextvars.bound_contextvars(reconcileID="abc"):
        get_logger("t").info("inside")
        logging.getLogger("aiohttp.client").warning("from the standard library")
    get_logger("t").info("outside")
    inside, stdlib, outside = json_lines(stream)
    assert inside["reconcileID"] == "abc" and stdlib["reconcileID"] == "abc"
    assert "reconcileID" not in outside


def test_standard_library_logs_come_out_in_the_same_shape(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    logging.getLogger("kubernetes_asyncio.client").warning("retrying %s", "GET /api")
    [line] = json_lines(stream)
    assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    assert (line["level"], line["logger"], line["msg"]) == ("warning", "kubernetes_asyncio.client", "retrying GET /api")


def test_exceptions_are_rendered_into_the_json_line(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    try:
        raise ValueError("bad spec")
    except ValueError:
        get_logger("t").exception("reconcile failed")
    [line] = json_lines(stream)
    assert line["level"] == "error"
    assert "ValueError: bad spec" in line["exception"]


def test_the_text_format_is_one_readable_line_per_event(stream: io.StringIO) -> None:
    configure_logging("text", stream=stream)
    reconcile_logger("machine", "Machine", "cluster.x-k8s.io", "default", "m-1", "r1").warning("waiting for node")
    [line] = stream.getvalue().splitlines()
    assert not line.startswith("{")
    assert "waiting for node" in line
    assert "warning" in line
    assert "Machine=default/m-1" in line
    assert "reconcileID=r1" in line
    assert "\x1b[" not in line  # no colour codes


def test_lines_below_the_configured_level_are_dropped(stream: io.StringIO) -> None:
    configure_logging(level="warning", stream=stream)
    get_logger("t").info("quiet")
    get_logger("t").debug("quieter")
    logging.getLogger("aiohttp").info("quiet too")
    get_logger("t").error("loud")
    assert [line["msg"] for line in json_lines(stream)] == ["loud"]


def test_an_unknown_level_is_refused(stream: io.StringIO) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="chatty", stream=stream)


def test_configuring_twice_replaces_the_first_configuration(stream: io.StringIO) -> None:
    configure_logging(stream=io.StringIO())
    configure_logging("text", stream=stream)
    get_logger("t").info("once")
    assert len(stream.getvalue().splitlines()) == 1
    assert not stream.getvalue().startswith("{")


@pytest.mark.parametrize("key", ["token", "Token", "joinToken", "password", "sshPassword", "key", "privateKey",
                                 "tls.key", "apiKey", "data", "bootstrapData", "clientKeyData", "value",
                                 "kubeconfig", "adminKubeconfig", "ssh_private_key"])
def test_keys_named_like_secrets_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["tokenSecretRef", "dataSecretName", "metadata", "name", "namespace", "msg",
                                 "controllerKind", "reconcileID", "K0sWorkerConfig", "keys", "valueFrom"])
def test_ordinary_keys_are_not_taken_for_secrets(key: str) -> None:
    assert not is_secret_key(key)


class SSHMachineSpec(pydantic.BaseModel):
    address: str
    private_key: str = pydantic.Field(alias="privateKey")


class KubernetesClientModel:
    """Shaped like kubernetes-asyncio's models, whose repr() shows every field."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "Secret", "data": {"value": "c2VjcmV0"}}


def test_secret_values_never_reach_the_log_at_any_depth(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    spec = SSHMachineSpec(address="10.0.0.5", privateKey="-----BEGIN OPENSSH PRIVATE KEY-----")
    get_logger("t").info(
        "connecting",
        token="abc.def",
        bootstrapData="#cloud-config",
        kubeconfig="apiVersion: v1",
        secret={"data": {"value": "c2VjcmV0"}, "type": "Opaque"},
        files=[{"path": "/etc/k0s/token", "password": "hunter2"}],
        spec=spec,
        raw=KubernetesClientModel(),
    )
    text = stream.getvalue()
    for secret in ("abc.def", "#cloud-config", "apiVersion: v1", "c2VjcmV0", "hunter2", "PRIVATE KEY"):
        assert secret not in text
    [line] = json_lines(stream)
    assert line["token"] == "[redacted]"
    assert line["secret"] == {"data": "[redacted]", "type": "Opaque"}
    assert line["files"] == [{"path": "/etc/k0s/token", "password": "[redacted]"}]
    assert line["spec"] == {"address": "10.0.0.5", "privateKey": "[redacted]"}
    assert line["raw"] == {"kind": "Secret", "data": "[redacted]"}


def test_redaction_leaves_the_callers_objects_untouched(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    secret = {"data": {"token": "abc"}}
    get_logger("t").info("read", secret=secret)
    assert secret == {"data": {"token": "abc"}}


def test_secrets_in_the_text_format_are_redacted_too(stream: io.StringIO) -> None:
    configure_logging("text", stream=stream)
    get_logger("t").info("login", password="hunter2")
    assert "hunter2" not in stream.getvalue()
    assert "password=[redacted]" in stream.getvalue()
