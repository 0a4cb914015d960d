"""The read-side Cluster API core models: seed manifests and live objects (with fields we do not model) parse and
dump back unchanged, the helpers read both API shapes, and the schemas keep unknown fields."""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from k0smotron_core import api
from k0smotron_core.api import capi
from k0smotron_core.api._base import KubeModel, ObjectMeta, Resource
from k0smotron_core.crdgen import crd_for
from k0smotron_core.envtest import _schema

KINDS: tuple[type[Resource], ...] = (
    capi.Cluster, capi.Machine, capi.MachineSet, capi.MachineDeployment, capi.MachineHealthCheck,
)

# The Cluster, Machine and MachineDeployment manifests of the seed pages (the k0smotron CAPI guides), verbatim.
# In the remote machine page the indentation was lost and has been put back.
SEED_MANIFESTS = {
    "control-plane-bootstrap/Cluster": """
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata:
  name: cp-test
spec:
  clusterNetwork:
    pods:
      cidrBlocks:
        - 10.244.0.0/16
    services:
      cidrBlocks:
        - 10.96.0.0/12
  controlPlaneRef:
    apiVersion: controlplane.cluster.x-k8s.io/v1beta1
    kind: K0sControlPlane
    name: cp-test
""",
    "bootstrap/Machine": """
apiVersion: cluster.x-k8s.io/v1beta1
kind: Machine
metadata:
  name: machine-test-0
  namespace: default
spec:
  clusterName: cp-test
  bootstrap:
    configRef: # This triggers our controller to create cloud-init secret
      apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
      kind: K0sWorkerConfig
      name: machine-test-config
  infrastructureRef: # This references the infrastructure provider machine object
    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
    kind: AWSMachine
    name: machine-test-0
""",
    "bootstrap/MachineDeployment": """
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata:
  name: md-test
  namespace: default
spec:
  replicas: 2
  clusterName: cp-test
  selector:
    matchLabels:
      cluster.x-k8s.io/cluster-name: cp-test
      pool: worker-pool-1
  template:
    metadata:
      labels:
        cluster.x-k8s.io/cluster-name: cp-test
        pool: worker-pool-1
    spec:
      clusterName: cp-test
      bootstrap:
        configRef:
          apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
          kind: K0sWorkerConfigTemplate
          name: md-test-config
      infrastructureRef:
        apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
        kind: AWSMachineTemplate
        name: mt-test
""",
    "remote-machine/Cluster": """
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata:
  name: remote-test
  namespace: default
spec:
  clusterNetwork:
    pods:
      cidrBlocks:
        - 192.168.0.0/16
    serviceDomain: cluster.local
    services:
      cidrBlocks:
        - 10.128.0.0/12
  controlPlaneRef:
    apiVersion: controlplane.cluster.x-k8s.io/v1beta1
    kind: K0smotronControlPlane
    name: remote-test
  infrastructureRef:
    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
    kind: RemoteCluster
    name: remote-test
""",
    "remote-machine/Machine": """
apiVersion: cluster.x-k8s.io/v1beta1
kind: Machine
metadata:
  name: remote-test-0
  namespace: default
spec:
  clusterName: remote-test
  bootstrap:
    configRef:
      apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
      kind: K0sWorkerConfig
      name: remote-test-0
  infrastructureRef:
    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
    kind: RemoteMachine
    name: remote-test-0
""",
}

T0 = "2025-03-01T10:00:00Z"
T1 = "2025-03-01T10:04:12Z"


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "4242", "generation": 3,
        "creationTimestamp": T0,
        "labels": {capi.CLUSTER_NAME_LABEL: "cp-test"},
        "managedFields": [{"manager": "manager", "operation": "Update", "apiVersion": capi.CAPI_API_VERSION,
                           "time": T1, "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}],
        **extra,
    }


def _v1beta2_condition(type_: str, status: str = "True", reason: str | None = None) -> dict[str, Any]:
    return {"type": type_, "status": status, "observedGeneration": 3, "lastTransitionTime": T1,
            "reason": reason or type_, "message": ""}


MACHINE_SPEC: dict[str, Any] = {
    "clusterName": "cp-test",
    "bootstrap": {
        "configRef": {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sWorkerConfig",
                      "name": "md-test-abcde-x7k2p", "namespace": "default", "uid": "uid-cfg"},
        "dataSecretName": "md-test-abcde-x7k2p",
    },
    "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteMachine",
                          "name": "md-test-abcde-x7k2p", "namespace": "default", "uid": "uid-infra"},
    "version": "v1.31.2+k0s.0",
    "providerID": "remote-machine://10.0.0.21",
    "failureDomain": "rack-1",
    "nodeDeletionTimeout": "10s",
    "readinessGates": [{"conditionType": "example.com/AgentReady", "polarity": "Positive"}],
    # A field of a later release:
    "taints": [{"key": "example.com/dedicated", "value": "db", "effect": "NoSchedule", "propagation": "Always"}],
}

# Objects as a CAPI 1.10 management cluster serves them, each with fields these models do not declare (marked).
LIVE_OBJECTS: dict[str, dict[str, Any]] = {
    "Cluster": {
        "apiVersion": capi.CAPI_API_VERSION,
        "kind": "Cluster",
        "metadata": _meta("cp-test", finalizers=[capi.CLUSTER_FINALIZER],
                          annotations={"example.com/owner": "team-a"}),
        "spec": {
            "clusterNetwork": {
                "apiServerPort": 6443,
                "pods": {"cidrBlocks": ["10.244.0.0/16"]},
                "services": {"cidrBlocks": ["10.96.0.0/12"], "futureRangeField": True},  # unknown
                "serviceDomain": "cluster.local",
                "futureNetworkField": "x",  # unknown
            },
            "controlPlaneEndpoint": {"host": "10.0.0.10", "port": 30443},
            "controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane",
                                "name": "cp-test", "namespace": "default"},
            "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteCluster",
                                  "name": "cp-test", "namespace": "default"},
            "availabilityGates": [{"conditionType": "example.com/Audited"}],
            "futureSpecField": {"enabled": True, "items": [1, 2]},  # unknown
        },
        "status": {
            "failureDomains": {"rack-1": {"controlPlane": True, "attributes": {"zone": "a"}}, "rack-2": {}},
            "phase": "Provisioned",
            "infrastructureReady": True,
            "controlPlaneReady": True,
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": T1},
                {"type": "ControlPlaneInitialized", "status": "True", "lastTransitionTime": T1},
                {"type": "ControlPlaneReady", "status": "False", "severity": "Warning", "lastTransitionTime": T1,
                 "reason": "ScalingUp", "message": "Scaling up control plane to 3 replicas (actual 1)"},
                {"type": "InfrastructureReady", "status": "True", "lastTransitionTime": T0},
            ],
            "v1beta2": {
                "conditions": [_v1beta2_condition("Available"), _v1beta2_condition("ControlPlaneInitialized",
                                                                                   reason="Initialized"),
                               _v1beta2_condition("Paused", "False", "NotPaused")],
                "controlPlane": {"desiredReplicas": 3, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                                 "upToDateReplicas": 1},
                "workers": {"desiredReplicas": 2, "replicas": 2, "readyReplicas": 2, "futureCounter": 0},  # unknown
            },
            "deprecated": {"v1beta1": {"failureReason": None}},  # unknown
        },
    },
    "Machine": {
        "apiVersion": capi.CAPI_API_VERSION,
        "kind": "Machine",
        "metadata": _meta("md-test-abcde-x7k2p", finalizers=[capi.MACHINE_FINALIZER], ownerReferences=[{
            "apiVersion": capi.CAPI_API_VERSION, "kind": "MachineSet", "name": "md-test-abcde", "uid": "uid-ms",
            "controller": True, "blockOwnerDeletion": True}]),
        "spec": MACHINE_SPEC,
        "status": {
            "nodeRef": {"apiVersion": "v1", "kind": "Node", "name": "worker-1", "uid": "uid-node"},
            "nodeInfo": {"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.22",
                         "kernelVersion": "6.8.0", "kubeProxyVersion": "", "kubeletVersion": "v1.31.2+k0s",
                         "machineID": "m", "operatingSystem": "linux", "osImage": "Ubuntu 24.04 LTS",
                         "systemUUID": "s", "swap": {}},
            "lastUpdated": T1,
            "addresses": [{"type": "InternalIP", "address": "10.0.0.21"}, {"type": "Hostname", "address": "worker-1"}],
            "phase": "Running",
            "bootstrapReady": True,
            "infrastructureReady": True,
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": T1},
                {"type": "BootstrapReady", "status": "True", "lastTransitionTime": T0},
                {"type": "InfrastructureReady", "status": "True", "lastTransitionTime": T1},
                {"type": "NodeHealthy", "status": "True", "lastTransitionTime": T1},
            ],
            "deletion": {"nodeDrainStartTime": T1, "waitForPreTerminateHookStartTime": T1},  # the latter unknown
            "initialization": {"bootstrapDataSecretCreated": True, "infrastructureProvisioned": True},  # unknown
            "v1beta2": {"conditions": [_v1beta2_condition("Ready"), _v1beta2_condition("BootstrapConfigReady")]},
        },
    },
    "MachineSet": {
        "apiVersion": capi.CAPI_API_VERSION,
        "kind": "MachineSet",
        "metadata": _meta("md-test-abcde", annotations={"machinedeployment.clusters.x-k8s.io/revision": "1"}),
        "spec": {
            "clusterName": "cp-test",
            "replicas": 3,
            "minReadySeconds": 0,
            "deletePolicy": "Oldest",
            "selector": {
                "matchLabels": {capi.CLUSTER_NAME_LABEL: "cp-test", capi.MACHINE_TEMPLATE_HASH_LABEL: "1234"},
                "matchExpressions": [{"key": "pool", "operator": "In", "values": ["a", "b"]},
                                     {"key": "gpu", "operator": "DoesNotExist"}],
            },
            "template": {"metadata": {"labels": {"pool": "a"}, "annotations": {"note": "x"}}, "spec": MACHINE_SPEC},
            "machineNamingStrategy": {"template": "{{ .machineSet.name }}-{{ .random }}"},
        },
        "status": {
            "selector": "cluster.x-k8s.io/cluster-name=cp-test,machine-template-hash=1234",
            "replicas": 3,
            "fullyLabeledReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T1}],
            "versions": [{"version": "v1.31.2+k0s.0", "replicas": 3}],  # unknown
            "v1beta2": {"readyReplicas": 2, "availableReplicas": 2, "upToDateReplicas": 3,
                        "conditions": [_v1beta2_condition("MachinesReady", "False", "NotReady")]},
        },
    },
    "MachineDeployment": {
        "apiVersion": capi.CAPI_API_VERSION,
        "kind": "MachineDeployment",
        "metadata": _meta("md-test", annotations={capi.AUTOSCALER_MIN_SIZE_ANNOTATION: "1",
                                                  capi.AUTOSCALER_MAX_SIZE_ANNOTATION: "5"}),
        "spec": {
            "clusterName": "cp-test",
            "replicas": 3,
            "selector": {"matchLabels": {capi.CLUSTER_NAME_LABEL: "cp-test", "pool": "a"}},
            "template": {"metadata": {"labels": {capi.CLUSTER_NAME_LABEL: "cp-test", "pool": "a"}},
                         "spec": MACHINE_SPEC},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%", "deletePolicy": "Newest"},
                         "remediation": {"maxInFlight": "20%"}},
            "minReadySeconds": 0,
            "revisionHistoryLimit": 1,
            "progressDeadlineSeconds": 600,
            "paused": False,
            "rollout": {"after": T1},  # unknown
        },
        "status": {
            "observedGeneration": 3,
            "selector": "cluster.x-k8s.io/cluster-name=cp-test,pool=a",
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "unavailableReplicas": 1,
            "phase": "ScalingUp",
            "conditions": [{"type": "Available", "status": "False", "severity": "Warning", "lastTransitionTime": T1,
                            "reason": "WaitingForAvailableMachines", "message": "Minimum availability requires 3"}],
            "v1beta2": {"conditions": [_v1beta2_condition("ScalingUp")], "upToDateReplicas": 3},
        },
    },
    "MachineHealthCheck": {
        "apiVersion": capi.CAPI_API_VERSION,
        "kind": "MachineHealthCheck",
        "metadata": _meta("md-test-unhealthy-5m"),
        "spec": {
            "clusterName": "cp-test",
            "selector": {"matchLabels": {"pool": "a"}},
            "unhealthyConditions": [{"type": "Ready", "status": "Unknown", "timeout": "5m0s"},
                                    {"type": "Ready", "status": "False", "timeout": "5m0s"}],
            "maxUnhealthy": "40%",
            "nodeStartupTimeout": "10m0s",
            "remediationTemplate": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                    "kind": "Metal3RemediationTemplate", "name": "remediate", "namespace": "default"},
            "unhealthyMachineConditions": [{"type": "example.com/Broken", "status": "True", "timeout": "1m"}],  # unk.
        },
        "status": {
            "expectedMachines": 3,
            "currentHealthy": 2,
            "remediationsAllowed": 1,
            "observedGeneration": 3,
            "targets": ["md-test-abcde-x7k2p", "md-test-abcde-q9z4m", "md-test-abcde-w2c8v"],
            "conditions": [{"type": "RemediationAllowed", "status": "True", "lastTransitionTime": T1}],
            "v1beta2": {"conditions": [_v1beta2_condition("RemediationAllowed")]},
        },
    },
}


def _load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def _wire(obj: dict[str, Any]) -> str:
    """A canonical JSON text, so `true` and `1` (equal in Python) count as different."""
    return json.dumps(obj, sort_keys=True)


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _cluster(**status: Any) -> capi.Cluster:
    return capi.Cluster.new("cp-test", status=status)


# --- seeds ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SEED_MANIFESTS))
def test_every_seed_manifest_parses_and_dumps_back_unchanged(name: str) -> None:
    document = _load(SEED_MANIFESTS[name])
    model = api.model_for(document["apiVersion"], document["kind"]).from_dict(document)
    assert _wire(model.to_dict()) == _wire(document)


def test_the_seed_cluster_is_read_through_typed_fields() -> None:
    cluster = capi.Cluster.from_dict(_load(SEED_MANIFESTS["remote-machine/Cluster"]))
    network = cluster.spec.cluster_network
    assert network is not None and network.pods is not None and network.services is not None
    assert (network.pods.cidr_blocks, network.services.cidr_blocks) == (["192.168.0.0/16"], ["10.128.0.0/12"])
    assert network.service_domain == "cluster.local"
    assert cluster.spec.control_plane_ref is not None and cluster.spec.control_plane_ref.kind == "K0smotronControlPlane"
    assert cluster.spec.infrastructure_ref is not None and cluster.spec.infrastructure_ref.name == "remote-test"
    assert cluster.spec.paused is False
    assert (cluster.spec.control_plane_endpoint.host, cluster.spec.control_plane_endpoint.port) == ("", 0)
    assert not capi.is_infrastructure_provisioned(cluster) and not capi.is_control_plane_initialized(cluster)


def test_the_seed_machine_and_machine_deployment_are_read_through_typed_fields() -> None:
    machine = capi.Machine.from_dict(_load(SEED_MANIFESTS["bootstrap/Machine"]))
    assert machine.spec.cluster_name == "cp-test"
    assert machine.spec.bootstrap.config_ref is not None and machine.spec.bootstrap.config_ref.kind == "K0sWorkerConfig"
    assert machine.spec.bootstrap.data_secret_name is None
    assert machine.spec.infrastructure_ref.kind == "AWSMachine"
    assert machine.status.node_ref is None and machine.status.bootstrap_ready is False

    deployment = capi.MachineDeployment.from_dict(_load(SEED_MANIFESTS["bootstrap/MachineDeployment"]))
    assert deployment.spec.replicas == 2
    assert deployment.spec.selector.match_labels == {capi.CLUSTER_NAME_LABEL: "cp-test", "pool": "worker-pool-1"}
    template = deployment.spec.template
    assert template.metadata is not None and template.metadata.labels == deployment.spec.selector.match_labels
    assert template.spec.bootstrap.config_ref is not None
    assert template.spec.bootstrap.config_ref.kind == "K0sWorkerConfigTemplate"


def test_api_parse_tells_the_capi_cluster_from_the_k0smotron_one_by_api_version() -> None:
    cluster = api.parse(_load(SEED_MANIFESTS["control-plane-bootstrap/Cluster"]))
    assert type(cluster) is capi.Cluster
    assert api.model_for("cluster.x-k8s.io/v1beta1", "MachineHealthCheck") is capi.MachineHealthCheck


# --- live objects with unknown fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LIVE_OBJECTS))
def test_a_live_object_with_fields_we_do_not_model_round_trips_losslessly(kind: str) -> None:
    obj = copy.deepcopy(LIVE_OBJECTS[kind])
    model = api.model_for(obj["apiVersion"], kind).from_dict(obj)
    assert _wire(model.to_dict()) == _wire(LIVE_OBJECTS[kind])
    assert obj == LIVE_OBJECTS[kind], "parsing must not change its input"


def test_unknown_fields_stay_reachable_next_to_the_typed_ones() -> None:
    cluster = capi.Cluster.from_dict(copy.deepcopy(LIVE_OBJECTS["Cluster"]))
    assert cluster.spec.model_extra == {"futureSpecField": {"enabled": True, "items": [1, 2]}}
    assert cluster.status.model_extra == {"deprecated": {"v1beta1": {"failureReason": None}}}
    network = cluster.spec.cluster_network
    assert network is not None and network.model_extra == {"futureNetworkField": "x"}
    assert cluster.status.v1beta2 is not None and cluster.status.v1beta2.workers is not None
    assert cluster.status.v1beta2.workers.model_extra == {"futureCounter": 0}
    assert cluster.status.v1beta2.control_plane is not None and cluster.status.v1beta2.control_plane.replicas == 1

    machine = capi.Machine.from_dict(copy.deepcopy(LIVE_OBJECTS["Machine"]))
    assert machine.spec.provider_id == "remote-machine://10.0.0.21"
    assert machine.status.node_ref is not None and machine.status.node_ref.name == "worker-1"
    assert [(a.type, a.address) for a in machine.status.addresses or []] == [
        ("InternalIP", "10.0.0.21"), ("Hostname", "worker-1")]
    assert machine.status.model_extra is not None and "initialization" in machine.status.model_extra


def test_int_or_string_fields_keep_numbers_and_percentages_apart() -> None:
    deployment = capi.MachineDeployment.from_dict(copy.deepcopy(LIVE_OBJECTS["MachineDeployment"]))
    assert deployment.spec.strategy is not None and deployment.spec.strategy.rolling_update is not None
    assert deployment.spec.strategy.rolling_update.max_surge == 1
    assert deployment.spec.strategy.rolling_update.max_unavailable == "25%"
    check = capi.MachineHealthCheck.from_dict(copy.deepcopy(LIVE_OBJECTS["MachineHealthCheck"]))
    assert check.spec.max_unhealthy == "40%"


def test_keeping_unknown_fields_does_not_loosen_the_declared_ones() -> None:
    machine = copy.deepcopy(LIVE_OBJECTS["Machine"])
    del machine["spec"]["clusterName"]
    machine["status"]["addresses"][0]["type"] = "PublicIP"
    with pytest.raises(ValidationError) as raised:
        capi.Machine.from_dict(machine)
    assert {e["loc"] for e in raised.value.errors()} == {
        ("spec", "clusterName"), ("status", "addresses", 0, "type")}


def test_a_reference_field_of_the_v1beta2_api_is_rejected_by_the_v1beta1_models() -> None:
    cluster = copy.deepcopy(LIVE_OBJECTS["Cluster"])
    cluster["spec"]["controlPlaneRef"] = {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "K0sControlPlane",
                                          "name": "cp-test"}
    with pytest.raises(ValidationError, match="apiGroup"):
        capi.Cluster.from_dict(cluster)


# --- helpers -------------------------------------------------------------------------------------------------------


def test_get_condition_finds_a_condition_by_type_in_either_condition_list() -> None:
    cluster = capi.Cluster.from_dict(copy.deepcopy(LIVE_OBJECTS["Cluster"]))
    ready = capi.get_condition(cluster.status.conditions, capi.CONTROL_PLANE_READY_CONDITION)
    assert ready is not None and ready.status == "False" and ready.severity == "Warning"
    assert cluster.status.v1beta2 is not None
    paused = capi.get_condition(cluster.status.v1beta2.conditions, capi.PAUSED_CONDITION)
    assert paused is not None and paused.reason == capi.NOT_PAUSED_REASON and paused.observed_generation == 3


def test_get_condition_returns_none_for_a_missing_type_or_a_missing_list() -> None:
    cluster = capi.Cluster.from_dict(copy.deepcopy(LIVE_OBJECTS["Cluster"]))
    assert capi.get_condition(cluster.status.conditions, capi.WORKERS_AVAILABLE_CONDITION) is None
    assert capi.get_condition(None, capi.READY_CONDITION) is None
    assert capi.get_condition([], capi.READY_CONDITION) is None


def test_is_paused_when_the_cluster_spec_says_paused() -> None:
    cluster = capi.Cluster.new("cp-test", spec={"paused": True})
    assert capi.is_paused(cluster, ObjectMeta(name="cp-test-0"))


def test_is_paused_when_the_object_has_the_paused_annotation_whatever_its_value() -> None:
    cluster = capi.Cluster.new("cp-test")
    assert capi.is_paused(cluster, ObjectMeta(name="cp-test-0", annotations={capi.PAUSED_ANNOTATION: ""}))
    assert capi.is_paused(cluster, ObjectMeta(name="cp-test-0", annotations={capi.PAUSED_ANNOTATION: "false"}))


def test_is_not_paused_without_spec_paused_or_annotation() -> None:
    cluster = capi.Cluster.new("cp-test")
    assert not capi.is_paused(cluster, ObjectMeta(name="cp-test-0"))
    assert not capi.is_paused(cluster, ObjectMeta(name="cp-test-0", annotations={"other": "x"}))


def test_a_paused_annotation_on_the_cluster_pauses_the_cluster_but_not_its_objects() -> None:
    cluster = capi.Cluster.new("cp-test")
    cluster.metadata.annotations = {capi.PAUSED_ANNOTATION: "true"}
    assert capi.is_paused(cluster, cluster.metadata)
    assert not capi.is_paused(cluster, ObjectMeta(name="cp-test-0"))


def test_infrastructure_counts_as_provisioned_in_either_api_shape() -> None:
    assert capi.is_infrastructure_provisioned(_cluster(infrastructureReady=True))
    assert capi.is_infrastructure_provisioned(_cluster(initialization={"infrastructureProvisioned": True}))
    assert not capi.is_infrastructure_provisioned(_cluster(initialization={"infrastructureProvisioned": False}))
    assert not capi.is_infrastructure_provisioned(_cluster())


def test_the_control_plane_counts_as_initialized_when_either_condition_list_says_so() -> None:
    condition = {"type": "ControlPlaneInitialized", "status": "True", "lastTransitionTime": T1}
    assert capi.is_control_plane_initialized(_cluster(conditions=[condition]))
    assert capi.is_control_plane_initialized(_cluster(v1beta2={"conditions": [
        _v1beta2_condition("ControlPlaneInitialized", reason="Initialized")]}))
    assert capi.is_control_plane_initialized(_cluster(initialization={"controlPlaneInitialized": True}))


def test_the_control_plane_is_not_initialized_on_a_false_or_absent_condition_even_if_control_plane_ready() -> None:
    condition = {"type": "ControlPlaneInitialized", "status": "False", "severity": "Info",
                 "lastTransitionTime": T1, "reason": "WaitingForControlPlaneProviderInitialized"}
    assert not capi.is_control_plane_initialized(_cluster(conditions=[condition], controlPlaneReady=True))
    assert not capi.is_control_plane_initialized(_cluster(controlPlaneReady=True))


# --- schemas and CRDs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", KINDS, ids=lambda m: m.__name__)
def test_the_json_schema_keeps_unknown_fields_in_spec_and_status(model: type[Resource]) -> None:
    schema = model.model_json_schema()
    assert schema["x-kubernetes-preserve-unknown-fields"] is True
    for part in ("spec", "status"):
        node = _resolved(schema, schema["properties"][part])
        assert node["x-kubernetes-preserve-unknown-fields"] is True, part
        assert node["additionalProperties"] is True, part


def test_every_model_of_the_module_keeps_unknown_fields() -> None:
    models = [m for _, m in inspect.getmembers(capi, inspect.isclass)
              if issubclass(m, KubeModel) and m.__module__ == capi.__name__]
    assert len(models) >= 30
    for model in models:
        assert model.model_config.get("extra") == "allow", model.__name__
        assert model.model_json_schema()["x-kubernetes-preserve-unknown-fields"] is True, model.__name__


def test_the_crd_facts_follow_the_kubebuilder_markers() -> None:
    facts = {m.crd.kind: (m.crd.plural, m.crd.short_names, m.crd.scale_subresource) for m in KINDS}
    assert facts == {
        "Cluster": ("clusters", ("cl",), False),
        "Machine": ("machines", ("ma",), False),
        "MachineSet": ("machinesets", ("ms",), True),
        "MachineDeployment": ("machinedeployments", ("md",), True),
        "MachineHealthCheck": ("machinehealthchecks", ("mhc", "mhcs"), False),
    }
    for model in KINDS:
        assert (model.crd.api_version, model.crd.provider, model.crd.categories) == (
            "cluster.x-k8s.io/v1beta1", "cluster-api", ("cluster-api",))
        assert model.crd.status_subresource
        assert [c.name for c in model.crd.printer_columns][-2:] in (["Age", "Version"], ["CurrentHealthy", "Age"])


@pytest.mark.parametrize("model", KINDS, ids=lambda m: m.__name__)
def test_the_generated_crd_is_structural_and_keeps_unknown_fields(model: type[Resource]) -> None:
    crd = crd_for(model)
    assert _schema.validate_crd(crd) == []
    [version] = crd["spec"]["versions"]
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert properties["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert properties["status"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "additionalProperties" not in properties["spec"]


@pytest.mark.parametrize("model", KINDS, ids=lambda m: m.__name__)
def test_the_generated_crd_declares_no_defaults_as_capi_crds_do_not(model: type[Resource]) -> None:
    def defaults(node: Any, path: str) -> list[str]:
        if isinstance(node, list):
            return [d for i, item in enumerate(node) for d in defaults(item, f"{path}[{i}]")]
        if not isinstance(node, dict):
            return []
        found = [path] if "default" in node else []
        return found + [d for key, child in node.items() for d in defaults(child, f"{path}.{key}")]

    # Shared _base models keep theirs (APIEndpoint's host and port, metav1.Condition's message); CAPI always
    # writes those fields, so the server never has to fill them in.
    shared = (".controlPlaneEndpoint.properties.host", ".controlPlaneEndpoint.properties.port",
              ".conditions.items.properties.message")
    found = defaults(crd_for(model)["spec"]["versions"][0]["schema"], "schema")
    assert [path for path in found if not path.endswith(shared)] == []
    assert capi.ClusterSpec().paused is False and capi.MachineSetStatus().replicas == 0


@pytest.mark.parametrize("kind", list(LIVE_OBJECTS))
def test_the_generated_crd_schema_accepts_the_live_objects(kind: str) -> None:
    model = api.model_for(capi.CAPI_API_VERSION, kind)
    schema = crd_for(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert [e.message() for e in _schema.validate(LIVE_OBJECTS[kind], schema)] == []


def test_the_label_and_annotation_names_are_the_ones_capi_uses() -> None:
    assert capi.CLUSTER_NAME_LABEL == "cluster.x-k8s.io/cluster-name"
    assert capi.CONTROL_PLANE_LABEL == "cluster.x-k8s.io/control-plane"
    assert capi.MACHINE_DEPLOYMENT_NAME_LABEL == "cluster.x-k8s.io/deployment-name"
    assert capi.MACHINE_SET_NAME_LABEL == "cluster.x-k8s.io/set-name"
    assert capi.WATCH_LABEL == "cluster.x-k8s.io/watch-filter"
    assert capi.PAUSED_ANNOTATION == "cluster.x-k8s.io/paused"
    assert capi.TEMPLATE_CLONED_FROM_NAME_ANNOTATION == "cluster.x-k8s.io/cloned-from-name"
    assert capi.TEMPLATE_CLONED_FROM_GROUP_KIND_ANNOTATION == "cluster.x-k8s.io/cloned-from-groupkind"
    assert capi.DELETE_MACHINE_ANNOTATION == "cluster.x-k8s.io/delete-machine"
    assert capi.MACHINE_ANNOTATION == "cluster.x-k8s.io/machine"
