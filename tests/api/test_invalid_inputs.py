"""Bad input is refused with the field's path, by the CRD schema (through kubectl) and by the models alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from k0smotron_core import api

from .conftest import Kubectl

CONTROL_PLANE: dict[str, Any] = {
    "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane",
    "metadata": {"name": "cp", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "k0sConfigSpec": {"tunneling": {"enabled": True, "mode": "tunnel"}},
        "machineTemplate": {"infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                                  "kind": "RemoteMachineTemplate", "name": "pool"}},
    },
}
REMOTE_MACHINE: dict[str, Any] = {
    "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteMachine",
    "metadata": {"name": "rm", "namespace": "default"},
    "spec": {"address": "198.18.0.10", "port": 22, "user": "root", "sshKeyRef": {"name": "key"}},
}
WORKER: dict[str, Any] = {
    "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfig",
    "metadata": {"name": "w", "namespace": "default"},
    "spec": {"version": "v1.27.2+k0s.0", "preStartCommands": ["true"]},
}


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of document with the dotted path set to value (or removed when value is ...)."""
    changed = json.loads(json.dumps(document))
    *parents, leaf = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return changed


CASES = [
    pytest.param(
        _with(CONTROL_PLANE, "spec.k0sConfigSpec.tunneling.mode", "tunel"),
        'spec.k0sConfigSpec.tunneling.mode: Unsupported value: "tunel": supported values: "tunnel", "proxy"',
        ("spec", "k0sConfigSpec", "tunneling", "mode"), id="a wrong enum value"),
    pytest.param(
        _with(CONTROL_PLANE, "spec.replicas", -1),
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ("spec", "replicas"), id="a negative replica count"),
    pytest.param(
        _with(REMOTE_MACHINE, "spec.port", 70000),
        "spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535",
        ("spec", "port"), id="a port out of range"),
    pytest.param(
        _with(CONTROL_PLANE, "spec.machineTemplate.infrastructureRef", ...),
        "spec.machineTemplate.infrastructureRef: Required value",
        ("spec", "machineTemplate", "infrastructureRef"), id="a missing required field"),
    pytest.param(
        _with(WORKER, "spec.preStartCommands", "apt-get update"),
        'spec.preStartCommands: Invalid value: "string": spec.preStartCommands in body must be of type array: '
        '"string"',
        ("spec", "preStartCommands"), id="a wrong type"),
    pytest.param(
        _with(REMOTE_MACHINE, "spec.sshKeyRef", {"name": "key", "namespace": "elsewhere"}),
        'unknown field "spec.sshKeyRef.namespace"',
        ("spec", "sshKeyRef", "namespace"), id="an unknown field"),
]


@pytest.mark.parametrize(("document", "server_says", "model_path"), CASES)
def test_the_schema_rejects_it_with_the_field_path(
    cluster: Kubectl, document: dict[str, Any], server_says: str, model_path: tuple[str, ...]
) -> None:
    result = cluster("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(document))
    assert result.returncode == 1
    assert server_says in result.stderr


@pytest.mark.parametrize(("document", "server_says", "model_path"), CASES)
def test_the_model_rejects_it_with_the_field_path(
    document: dict[str, Any], server_says: str, model_path: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        api.parse(document)
    assert model_path in [tuple(str(p) for p in e["loc"])[: len(model_path)] for e in caught.value.errors()]


@pytest.mark.parametrize("document", [CONTROL_PLANE, REMOTE_MACHINE, WORKER], ids=lambda d: d["kind"])
def test_the_valid_originals_pass_both(cluster: Kubectl, document: dict[str, Any]) -> None:
    assert api.parse(document).to_dict() == document
    result = cluster("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(document))
    assert result.returncode == 0, result.stderr
