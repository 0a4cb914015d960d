"""The SSH infrastructure provider models: RemoteCluster(Template), RemoteMachine(Template), PooledRemoteMachine."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML

from k0smotron_core.api._base import Resource
from k0smotron_core.api.infrastructure import (
    PooledRemoteMachine,
    RemoteCluster,
    RemoteClusterTemplate,
    RemoteMachine,
    RemoteMachineTemplate,
)

KINDS: list[type[Resource]] = [RemoteCluster, RemoteClusterTemplate, RemoteMachine, RemoteMachineTemplate,
                               PooledRemoteMachine]


def _yaml(text: str) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def _error_paths(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


def _fingerprint(key: bytes) -> str:
    """An OpenSSH SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key).digest()).decode().rstrip("=")


# The manifests of the remote machine provider guide (seed 002), indentation restored.
SEED_REMOTE_CLUSTER = """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: RemoteCluster
metadata:
  name: remote-test
  namespace: default
spec:
"""

SEED_REMOTE_MACHINE = """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: RemoteMachine
metadata:
  name: remote-test-0
  namespace: default
spec:
  address: 1.2.3.4
  port: 22
  user: root
  sshKeyRef:
    # This defines which SSH key to use for connecting to the machine.
    # The Secret needs to have key 'value' with the SSH private key in it.
    name: footloose-key
"""

SEED_REMOTE_MACHINE_TEMPLATE = """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: RemoteMachineTemplate
metadata:
  name: remote-test-template
  namespace: default
spec:
  template:
    spec:
      pool: default
"""

SEED_POOLED_REMOTE_MACHINES = [
    """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: PooledRemoteMachine
metadata:
  name: remote-test-0
  namespace: default
spec:
  pool: default
  machine:
    address: 1.2.3.4
    port: 22
    user: root
    sshKeyRef:
      name: footloose-key-0
""",
    """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: PooledRemoteMachine
metadata:
  name: remote-test-1
  namespace: default
spec:
  pool: default
  machine:
    address: 2.3.4.5
    port: 22
    user: root
    sshKeyRef:
      name: footloose-key-1
""",
]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (RemoteMachine, SEED_REMOTE_MACHINE),
        (RemoteMachineTemplate, SEED_REMOTE_MACHINE_TEMPLATE),
        (PooledRemoteMachine, SEED_POOLED_REMOTE_MACHINES[0]),
        (PooledRemoteMachine, SEED_POOLED_REMOTE_MACHINES[1]),
    ],
    ids=["RemoteMachine", "RemoteMachineTemplate", "PooledRemoteMachine-0", "PooledRemoteMachine-1"],
)
def test_each_seed_manifest_parses_and_round_trips_losslessly(kind: type[Resource], text: str) -> None:
    document = _yaml(text)
    assert kind.from_dict(document).to_dict() == document


def test_the_seed_remote_cluster_with_an_empty_spec_parses_as_having_no_spec() -> None:
    document = _yaml(SEED_REMOTE_CLUSTER)
    assert document["spec"] is None
    cluster = RemoteCluster.from_dict(document)
    assert cluster.spec.control_plane_endpoint is None
    # The API server prunes the null of a non-nullable field; so does the model.
    assert cluster.to_dict() == {key: value for key, value in document.items() if value is not None}


FULL_REMOTE_MACHINE = """
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: RemoteMachine
metadata:
  name: remote-test-0
  namespace: default
spec:
  pool: default
  providerID: remote-machine://1.2.3.4:2222
  address: 1.2.3.4
  port: 2222
  user: k0s
  useSudo: true
  commandsAsScript: true
  workingDir: /var/lib/k0smotron
  sshKeyRef:
    name: footloose-key
  customCleanUpCommands:
    - k0s reset
  provisionJob:
    sshCommand: ssh -o StrictHostKeyChecking=no
    scpCommand: scp -o StrictHostKeyChecking=no
    jobSpecTemplate:
      spec:
        template:
          spec:
            containers:
              - name: provisioner
                image: alpine
            restartPolicy: Never
  hostKeyRef:
    name: remote-test-0-host-keys
    key: known_hosts
  hostKeyFingerprint: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
  hostKeyPolicy: TrustOnFirstUse
status:
  ready: true
  initialization:
    provisioned: true
  addresses:
    - type: ExternalIP
      address: 1.2.3.4
  failureReason: ProvisionFailed
  failureMessage: ssh connect failed
  hostKeyFingerprint: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
  conditions:
    - type: Ready
      status: "True"
      lastTransitionTime: "2026-11-21T12:00:00Z"
  v1beta2:
    conditions:
      - type: Ready
        status: "True"
        reason: Ready
        lastTransitionTime: "2026-11-21T12:00:00Z"
"""


def test_a_remote_machine_using_every_field_round_trips_losslessly() -> None:
    document = _yaml(FULL_REMOTE_MACHINE)
    machine = RemoteMachine.from_dict(document)
    assert machine.to_dict() == document
    assert machine.spec.provider_id == "remote-machine://1.2.3.4:2222"
    assert machine.spec.custom_clean_up_commands == ["k0s reset"]
    assert machine.spec.host_key_policy == "TrustOnFirstUse"


def test_a_remote_machine_gets_the_upstream_defaults() -> None:
    spec = RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"address": "1.2.3.4"}}).spec
    assert (spec.port, spec.user, spec.working_dir, spec.commands_as_script) == (22, "root", "/etc/k0smotron", False)
    assert spec.ssh_key_ref is None and spec.use_sudo is None
    assert spec.to_dict() == {"address": "1.2.3.4"}


def test_host_key_verification_is_pinned_by_default_and_reads_known_hosts() -> None:
    spec = RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"hostKeyRef": {"name": "keys"}}}).spec
    assert spec.host_key_policy == "Pinned"
    assert spec.host_key_ref is not None and spec.host_key_ref.key == "known_hosts"


def test_a_provision_job_defaults_to_plain_ssh_and_scp() -> None:
    spec = RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"provisionJob": {}}}).spec
    assert spec.provision_job is not None
    assert (spec.provision_job.ssh_command, spec.provision_job.scp_command) == ("ssh", "scp")


def test_a_real_sha256_fingerprint_is_accepted_on_machines_and_pooled_machines() -> None:
    fingerprint = _fingerprint(b"ssh-ed25519 host key bytes")
    machine = RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"hostKeyFingerprint": fingerprint}})
    assert machine.spec.host_key_fingerprint == fingerprint
    pooled = PooledRemoteMachine.from_dict({"metadata": {"name": "p"}, "spec": {"pool": "default", "machine": {
        "address": "1.2.3.4", "sshKeyRef": {"name": "k"}, "hostKeyFingerprint": fingerprint,
        "hostKeyPolicy": "Insecure"}}})
    assert pooled.spec is not None
    assert pooled.spec.machine.host_key_fingerprint == fingerprint
    assert pooled.spec.machine.host_key_policy == "Insecure"


@pytest.mark.parametrize(
    "fingerprint",
    [
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",  # no SHA256: prefix
        "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF",  # one character short
        "SHA256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",  # base64url, not base64
        "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
    ],
)
def test_a_bad_fingerprint_is_rejected_at_spec_host_key_fingerprint(fingerprint: str) -> None:
    with pytest.raises(ValidationError) as raised:
        RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"hostKeyFingerprint": fingerprint}})
    assert _error_paths(raised.value) == {"spec.hostKeyFingerprint"}


def test_a_bad_fingerprint_in_a_pooled_machine_is_rejected_at_its_path() -> None:
    with pytest.raises(ValidationError) as raised:
        PooledRemoteMachine.from_dict({"metadata": {"name": "p"}, "spec": {"pool": "default", "machine": {
            "address": "1.2.3.4", "sshKeyRef": {"name": "k"}, "hostKeyFingerprint": "SHA256:short"}}})
    assert _error_paths(raised.value) == {"spec.machine.hostKeyFingerprint"}


@pytest.mark.parametrize("port", [70000, 0, -22])
def test_a_port_out_of_range_is_rejected_at_spec_port(port: int) -> None:
    with pytest.raises(ValidationError) as raised:
        RemoteMachine.from_dict({"metadata": {"name": "m"}, "spec": {"address": "1.2.3.4", "port": port}})
    assert _error_paths(raised.value) == {"spec.port"}


def test_a_pooled_machine_port_out_of_range_is_rejected_at_spec_machine_port() -> None:
    with pytest.raises(ValidationError) as raised:
        PooledRemoteMachine.from_dict({"metadata": {"name": "p"}, "spec": {"pool": "default", "machine": {
            "address": "1.2.3.4", "port": 70000, "sshKeyRef": {"name": "k"}}}})
    assert _error_paths(raised.value) == {"spec.machine.port"}


def test_a_pooled_machine_without_ssh_key_ref_is_rejected_at_spec_machine_ssh_key_ref() -> None:
    document = _yaml(SEED_POOLED_REMOTE_MACHINES[0])
    del document["spec"]["machine"]["sshKeyRef"]
    with pytest.raises(ValidationError) as raised:
        PooledRemoteMachine.from_dict(document)
    assert _error_paths(raised.value) == {"spec.machine.sshKeyRef"}
    assert "Field required" in str(raised.value)


@pytest.mark.parametrize(
    ("kind", "spec", "path"),
    [
        (RemoteMachine, {"port": "twenty-two"}, "spec.port"),
        (RemoteMachine, {"useSudo": "maybe"}, "spec.useSudo"),
        (RemoteMachine, {"customCleanUpCommands": "k0s reset"}, "spec.customCleanUpCommands"),
        (RemoteMachine, {"sshKeyRef": "footloose-key"}, "spec.sshKeyRef"),
        (RemoteMachine, {"sshKeyRef": {}}, "spec.sshKeyRef.name"),
        (RemoteMachine, {"hostKeyPolicy": "pinned"}, "spec.hostKeyPolicy"),
        (RemoteMachine, {"hostKeyRef": {"key": "known_hosts"}}, "spec.hostKeyRef.name"),
        (RemoteMachine, {"provisionJob": {"jobSpecTemplate": []}}, "spec.provisionJob.jobSpecTemplate"),
        (PooledRemoteMachine, {"machine": {"address": "a", "sshKeyRef": {"name": "k"}}}, "spec.pool"),
        (PooledRemoteMachine, {"pool": "default"}, "spec.machine"),
        (PooledRemoteMachine, {"pool": "default", "machine": {"sshKeyRef": {"name": "k"}}}, "spec.machine.address"),
        (RemoteMachineTemplate, {"template": {"spec": {}}}, "spec.template.spec.pool"),
        (RemoteMachineTemplate, {}, "spec.template"),
        (RemoteClusterTemplate, {"template": {"spec": {"controlPlaneEndpoint": {"port": "api"}}}},
         "spec.template.spec.controlPlaneEndpoint.port"),
        (RemoteCluster, {"controlPlaneEndpoint": {"host": "h", "port": "api"}}, "spec.controlPlaneEndpoint.port"),
    ],
)
def test_wrong_types_and_missing_required_fields_are_rejected_with_their_path(
    kind: type[Resource], spec: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        kind.from_dict({"metadata": {"name": "x"}, "spec": spec})
    assert _error_paths(raised.value) == {path}


@pytest.mark.parametrize(
    ("kind", "spec", "path"),
    [
        (RemoteMachine, {"sshKey": {"name": "k"}}, "spec.sshKey"),
        (RemoteMachine, {"cleanUpCommands": ["k0s reset"]}, "spec.cleanUpCommands"),  # the v1beta2 name
        (RemoteMachine, {"provisionJob": {"image": "alpine"}}, "spec.provisionJob.image"),
        (PooledRemoteMachine, {"pool": "p", "machine": {"address": "a", "sshKeyRef": {"name": "k", "key": "v"}}},
         "spec.machine.sshKeyRef.key"),
        (RemoteMachineTemplate, {"template": {"spec": {"pool": "p", "address": "a"}}}, "spec.template.spec.address"),
        (RemoteCluster, {"endpoint": {"host": "h"}}, "spec.endpoint"),
    ],
)
def test_unknown_fields_are_rejected_with_their_path(kind: type[Resource], spec: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as raised:
        kind.from_dict({"metadata": {"name": "x"}, "spec": spec})
    assert _error_paths(raised.value) == {path}


def test_a_remote_cluster_reports_readiness_both_ways() -> None:
    document = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteCluster",
        "metadata": {"name": "remote-test", "namespace": "default"},
        "spec": {"controlPlaneEndpoint": {"host": "10.0.0.10", "port": 30443}},
        "status": {"ready": True, "initialization": {"provisioned": True},
                   "failureDomains": {"zone-a": {"controlPlane": True, "attributes": {"rack": "1"}}},
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-21T12:00:00Z"}]},
    }
    cluster = RemoteCluster.from_dict(document)
    assert cluster.to_dict() == document
    assert cluster.spec.control_plane_endpoint is not None and cluster.spec.control_plane_endpoint.port == 30443


def test_a_remote_cluster_status_is_not_ready_until_said_so() -> None:
    status = RemoteCluster.from_dict({"metadata": {"name": "c"}, "status": {}}).status
    assert status is not None and status.ready is False


def test_a_pooled_machine_or_machine_template_without_spec_is_accepted_as_the_api_server_accepts_it() -> None:
    pooled = PooledRemoteMachine.from_dict({"metadata": {"name": "x"}})
    template = RemoteMachineTemplate.from_dict({"metadata": {"name": "x"}})
    assert pooled.spec is None and template.spec is None
    assert pooled.to_dict() == template.to_dict() == {"metadata": {"name": "x"}}


def test_a_remote_cluster_template_without_spec_templates_an_empty_remote_cluster() -> None:
    template = RemoteClusterTemplate.from_dict({"metadata": {"name": "t"}})
    assert template.spec.template.spec.control_plane_endpoint is None
    assert template.to_dict() == {"metadata": {"name": "t"}}


def test_a_remote_cluster_template_round_trips() -> None:
    document = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteClusterTemplate",
        "metadata": {"name": "remote"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"controlPlaneEndpoint": {"host": "h", "port": 6443}}}},
    }
    assert RemoteClusterTemplate.from_dict(document).to_dict() == document


def test_a_remote_machine_template_round_trips_with_metadata_and_a_provision_job() -> None:
    document = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteMachineTemplate",
        "metadata": {"name": "t"},
        "spec": {"template": {"metadata": {"annotations": {"a": "b"}},
                              "spec": {"pool": "default", "provisionJob": {"jobSpecTemplate": {"spec": {}}}}}},
    }
    assert RemoteMachineTemplate.from_dict(document).to_dict() == document


def test_a_pooled_machine_gets_the_upstream_defaults_and_its_reservation_round_trips() -> None:
    document = _yaml(SEED_POOLED_REMOTE_MACHINES[1])
    del document["spec"]["machine"]["port"], document["spec"]["machine"]["user"]
    document["status"] = {"reserved": True, "machineRef": {"name": "remote-test-0", "namespace": "default"}}
    pooled = PooledRemoteMachine.from_dict(document)
    assert pooled.spec is not None
    machine = pooled.spec.machine
    assert (machine.port, machine.user, machine.working_dir, machine.commands_as_script) == (
        22, "root", "/etc/k0smotron", False)
    assert machine.host_key_policy == "Pinned"
    assert pooled.to_dict() == document


def test_the_pooled_remote_machine_crd_prints_address_reservation_and_machine() -> None:
    columns = [(c.name, c.json_path, c.type) for c in PooledRemoteMachine.crd.printer_columns]
    assert columns == [
        ("Address", ".spec.machine.address", "string"),
        ("Reserved", ".status.reserved", "boolean"),
        ("Remote Machine", ".status.machineRef.name", "string"),
    ]


def test_every_infrastructure_crd_carries_the_provider_and_contract_labels() -> None:
    for kind in KINDS:
        info = kind.crd
        assert (info.group, info.provider, info.contract_label) == (
            "infrastructure.cluster.x-k8s.io", "infrastructure-k0smotron", True), kind
        assert info.categories == ("cluster-api",)
        assert not info.scale_subresource
    assert not RemoteClusterTemplate.crd.status_subresource
    assert all(k.crd.status_subresource for k in KINDS if k is not RemoteClusterTemplate)


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack = [root]
    while stack:
        model = stack.pop()
        if model not in seen:
            seen.add(model)
            stack.extend(m for field in model.model_fields.values() for m in _nested(field.annotation))
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested(arg)]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_field_is_documented(kind: type[Resource]) -> None:
    undocumented = [f"{model.__name__}.{name}" for model in _models(kind) if model.__module__.endswith("infrastructure")
                    for name, field in model.model_fields.items()
                    if not field.description and name not in Resource.model_fields]
    assert undocumented == []
