"""The control plane provider's models: the user guide's K0sControlPlane and K0smotronControlPlane manifests parse
and dump back unchanged, defaults and CRD facts match upstream v1beta1, and bad input is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from k0smotron_core.api.controlplane import (
    K0sControlPlane,
    K0sControlPlaneSpec,
    K0sControlPlaneTemplate,
    K0smotronControlPlane,
    K0smotronControlPlaneTemplate,
)
from k0smotron_core.crdgen import crd_for, openapi_schema
from k0smotron_core.envtest import _schema


def _load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def _error_locations(error: ValidationError) -> list[tuple[tuple[int | str, ...], str]]:
    return [(e["loc"], e["type"]) for e in error.errors()]


_MACHINE_TEMPLATE = {"infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                           "kind": "DockerMachineTemplate", "name": "cp-template"}}


# --- the user guide's manifests (docs: Control Plane Bootstrap provider, Remote machine provider) -----------------

SEED_CONTROL_PLANES = {
    "cp-test": """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlane
metadata:
  name: cp-test
spec:
  replicas: 3
  k0sConfigSpec:
    k0s:
      apiVersion: k0s.k0sproject.io/v1beta1
      kind: ClusterConfig
      metadata:
        name: k0s
      spec:
        api:
          extraArgs:
            anonymous-auth: "true" # anonymous-auth=true is needed for k0s to allow unauthorized health-checks
  machineTemplate:
    infrastructureRef:
      apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
      kind: DockerMachineTemplate
      name: cp-test-machine-template
      namespace: default
""",
    "docker-test-with-workloads": """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlane
metadata:
  name: docker-test
spec:
  replicas: 1
  k0sConfigSpec:
    args:
      - --enable-worker
      - --no-taints # disable default taints
  machineTemplate:
    infrastructureRef:
      apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
      kind: DockerMachineTemplate
      name: docker-test-cp-template
      namespace: default
""",
    "remote-test": """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlane
metadata:
  name: remote-test
spec:
  replicas: 1
  version: v1.27.1+k0s.0
  k0sConfigSpec:
    k0s:
      apiVersion: k0s.k0sproject.io/v1beta1
      kind: ClusterConfig
      metadata:
        name: k0s
      spec:
        api:
          extraArgs:
            anonymous-auth: "true"
  machineTemplate:
    infrastructureRef:
      apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
      kind: RemoteMachineTemplate
      name: remote-test-template
      namespace: default
""",
}

# The guide shows only the tunneling part of this K0sControlPlane; machineTemplate is required upstream too.
SEED_TUNNELING_EXCERPT = """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlane
metadata:
  name: docker-test
spec:
  replicas: 1
  k0sConfigSpec:
    tunneling:
      enabled: true
      mode: tunnel # Tunneling mode: tunnel or proxy (default: tunnel)
"""

SEED_K0SMOTRON_CONTROL_PLANE = """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0smotronControlPlane
metadata:
  name: remote-test
  namespace: default
spec:
  version: v1.27.2-k0s.0
  persistence:
    type: emptyDir
  service:
    type: NodePort
"""

LIVE_CONTROL_PLANE = """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlane
metadata:
  name: cp-test
  namespace: default
  uid: 6f1c7c52-1a53-4c1d-9a57-3b1fb3a5d6d1
  generation: 3
  resourceVersion: "1234"
  creationTimestamp: "2025-01-01T00:00:00Z"
  labels: {cluster.x-k8s.io/cluster-name: cp-test}
  finalizers: [k0s.controlplane.cluster.x-k8s.io]
  ownerReferences:
    - {apiVersion: cluster.x-k8s.io/v1beta1, kind: Cluster, name: cp-test, uid: abc, controller: true}
spec:
  replicas: 3
  version: v1.30.2+k0s.0
  updateStrategy: Recreate
  k0sConfigSpec:
    k0sInstallDir: /usr/local/bin
    args: [--enable-worker]
    tunneling: {enabled: true, serverAddress: 10.0.0.1, serverNodePort: 31700, tunnelingNodePort: 31443, mode: proxy}
    files:
      - {path: /etc/a, content: b, permissions: "0600"}
    preStartCommands: [echo pre]
    postStartCommands: [echo post]
    secretMetadata: {labels: {a: b}}
    workingDir: /etc/k0smotron
  machineTemplate:
    metadata:
      labels: {pool: cp}
      annotations: {note: x}
    infrastructureRef:
      apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
      kind: RemoteMachineTemplate
      name: remote-test-template
      namespace: default
    nodeDrainTimeout: 10m
    nodeVolumeDetachTimeout: 5m
    nodeDeletionTimeout: 30s
  kubeconfigSecretMetadata:
    labels: {team: a}
    annotations: {note: b}
status:
  ready: true
  initialized: true
  initialization: {controlPlaneInitialized: true}
  externalManagedControlPlane: false
  replicas: 3
  readyReplicas: 2
  updatedReplicas: 3
  unavailableReplicas: 1
  version: v1.30.2+k0s.0
  selector: cluster.x-k8s.io/cluster-name=cp-test,cluster.x-k8s.io/control-plane
  conditions:
    - {type: Ready, status: "False", severity: Warning, reason: ScalingUp, lastTransitionTime: "2025-01-01T00:00:00Z"}
  v1beta2:
    conditions:
      - {type: Available, status: "True", reason: Available, lastTransitionTime: "2025-01-01T00:00:00Z"}
"""

CONTROL_PLANE_TEMPLATE = """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0sControlPlaneTemplate
metadata:
  name: cp-template
  namespace: default
spec:
  template:
    metadata:
      labels: {tier: cp}
    spec:
      version: v1.30.2+k0s.0
      updateStrategy: RecreateDeleteFirst
      k0sConfigSpec:
        k0s:
          apiVersion: k0s.k0sproject.io/v1beta1
          kind: ClusterConfig
          spec: {api: {extraArgs: {anonymous-auth: "true"}}}
      machineTemplate:
        metadata:
          labels: {pool: cp}
        nodeDrainTimeout: 1m
        nodeVolumeDetachTimeout: 2m
        nodeDeletionTimeout: 3m
"""

K0SMOTRON_CONTROL_PLANE_TEMPLATE = """
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: K0smotronControlPlaneTemplate
metadata:
  name: kmcp-template
  namespace: default
spec:
  template:
    metadata:
      annotations: {note: x}
    spec:
      replicas: 3
      version: v1.30.2-k0s.0
      service: {type: LoadBalancer, apiPort: 6443, konnectivityPort: 8132}
      persistence: {type: emptyDir}
"""


@pytest.mark.parametrize("name", sorted(SEED_CONTROL_PLANES))
def test_each_k0s_control_plane_of_the_user_guide_round_trips_losslessly(name: str) -> None:
    manifest = _load(SEED_CONTROL_PLANES[name])
    assert K0sControlPlane.model_validate(manifest).to_dict() == manifest


@pytest.mark.parametrize("name", sorted(SEED_CONTROL_PLANES))
def test_each_k0s_control_plane_of_the_user_guide_is_accepted_by_the_generated_crd_schema(name: str) -> None:
    assert _schema.validate(_load(SEED_CONTROL_PLANES[name]), openapi_schema(K0sControlPlane)) == []


def test_the_tunneling_excerpt_of_the_user_guide_lacks_the_required_machine_template() -> None:
    manifest = _load(SEED_TUNNELING_EXCERPT)
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(manifest)
    assert _error_locations(caught.value) == [(("spec", "machineTemplate"), "missing")]


def test_the_tunneling_excerpt_round_trips_once_a_machine_template_is_added() -> None:
    manifest = _load(SEED_TUNNELING_EXCERPT)
    manifest["spec"]["machineTemplate"] = _MACHINE_TEMPLATE
    control_plane = K0sControlPlane.model_validate(manifest)
    assert control_plane.spec is not None
    tunneling = control_plane.spec.k0s_config_spec.tunneling
    assert (tunneling.enabled, tunneling.mode, tunneling.tunneling_node_port) == (True, "tunnel", 31443)
    assert control_plane.to_dict() == manifest


def test_the_k0smotron_control_plane_of_the_user_guide_round_trips_losslessly() -> None:
    manifest = _load(SEED_K0SMOTRON_CONTROL_PLANE)
    control_plane = K0smotronControlPlane.model_validate(manifest)
    assert control_plane.spec.version == "v1.27.2-k0s.0"
    assert control_plane.spec.service.type == "NodePort"
    assert control_plane.to_dict() == manifest


def test_the_k0smotron_control_plane_of_the_user_guide_is_accepted_by_the_generated_crd_schema() -> None:
    assert _schema.validate(_load(SEED_K0SMOTRON_CONTROL_PLANE), openapi_schema(K0smotronControlPlane)) == []


def test_a_live_k0s_control_plane_with_every_field_and_status_round_trips_losslessly() -> None:
    manifest = _load(LIVE_CONTROL_PLANE)
    control_plane = K0sControlPlane.model_validate(manifest)
    assert control_plane.to_dict() == manifest
    assert control_plane.spec is not None and control_plane.spec.machine_template.node_drain_timeout == "10m"
    assert control_plane.status is not None and control_plane.status.unavailable_replicas == 1
    assert _schema.validate(manifest, openapi_schema(K0sControlPlane)) == []


def test_a_k0s_control_plane_template_round_trips_losslessly() -> None:
    manifest = _load(CONTROL_PLANE_TEMPLATE)
    template = K0sControlPlaneTemplate.model_validate(manifest)
    assert template.spec is not None and template.spec.template.spec.update_strategy == "RecreateDeleteFirst"
    assert template.to_dict() == manifest
    assert _schema.validate(manifest, openapi_schema(K0sControlPlaneTemplate)) == []


def test_a_k0smotron_control_plane_template_round_trips_losslessly() -> None:
    manifest = _load(K0SMOTRON_CONTROL_PLANE_TEMPLATE)
    template = K0smotronControlPlaneTemplate.model_validate(manifest)
    assert template.spec.template.spec.replicas == 3
    assert template.to_dict() == manifest
    assert _schema.validate(manifest, openapi_schema(K0smotronControlPlaneTemplate)) == []


def test_a_k0smotron_control_plane_status_round_trips_losslessly() -> None:
    manifest = _load(SEED_K0SMOTRON_CONTROL_PLANE)
    manifest["status"] = {"ready": True, "initialized": True, "initialization": {"controlPlaneInitialized": True},
                          "externalManagedControlPlane": True, "replicas": 1, "readyReplicas": 1,
                          "updatedReplicas": 1, "unavailableReplicas": 0, "version": "v1.27.2-k0s.0",
                          "selector": "app=k0smotron,cluster=remote-test"}
    assert K0smotronControlPlane.model_validate(manifest).to_dict() == manifest


# --- defaults ----------------------------------------------------------------------------------------------------


def test_a_k0s_control_plane_defaults_to_one_replica_updated_in_place() -> None:
    spec = K0sControlPlaneSpec.model_validate({"k0sConfigSpec": {}, "machineTemplate": _MACHINE_TEMPLATE})
    assert (spec.replicas, spec.update_strategy, spec.version) == (1, "InPlace", None)
    assert spec.k0s_config_spec.k0s_install_dir == "/usr/local/bin"
    assert spec.to_dict() == {"k0sConfigSpec": {}, "machineTemplate": _MACHINE_TEMPLATE}


def test_a_k0s_control_plane_template_defaults_to_in_place_updates() -> None:
    template = K0sControlPlaneTemplate.new("t", spec={"template": {"spec": {"k0sConfigSpec": {}}}})
    assert template.spec is not None
    assert template.spec.template.spec.update_strategy == "InPlace"
    assert template.spec.template.spec.machine_template is None


def test_a_k0smotron_control_plane_spec_is_the_hosted_cluster_spec_with_its_defaults() -> None:
    control_plane = K0smotronControlPlane.new("kmcp")
    assert control_plane.spec.replicas == 1
    assert control_plane.to_dict() == {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                                       "kind": "K0smotronControlPlane",
                                       "metadata": {"name": "kmcp", "namespace": "default"}}


def test_a_control_plane_without_a_spec_is_accepted_as_the_api_server_does_and_runs_no_workloads() -> None:
    manifest = {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane",
                "metadata": {"name": "cp"}}
    control_plane = K0sControlPlane.model_validate(manifest)
    assert control_plane.spec is None and control_plane.worker_enabled is False
    assert control_plane.to_dict() == manifest
    assert _schema.validate(manifest, openapi_schema(K0sControlPlane)) == []


def test_the_control_plane_defaults_appear_in_the_generated_crd() -> None:
    schema = openapi_schema(K0sControlPlane)
    spec = schema["properties"]["spec"]
    assert spec["properties"]["replicas"]["default"] == 1
    assert spec["properties"]["updateStrategy"]["enum"] == ["InPlace", "Recreate", "RecreateDeleteFirst"]
    assert spec["properties"]["updateStrategy"]["default"] == "InPlace"
    assert sorted(spec["required"]) == ["k0sConfigSpec", "machineTemplate"]
    assert spec["properties"]["machineTemplate"]["required"] == ["infrastructureRef"]
    assert schema["properties"]["status"]["default"] == {
        "version": "", "ready": False, "initialized": False, "initialization": {"controlPlaneInitialized": False}}


def test_enable_worker_among_the_k0s_args_means_the_control_plane_runs_workloads() -> None:
    with_workloads = K0sControlPlane.model_validate(_load(SEED_CONTROL_PLANES["docker-test-with-workloads"]))
    assert with_workloads.worker_enabled is True
    assert K0sControlPlane.model_validate(_load(SEED_CONTROL_PLANES["cp-test"])).worker_enabled is False


# --- invalid input -----------------------------------------------------------------------------------------------


def _control_plane(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane",
            "metadata": {"name": "cp"}, "spec": {"k0sConfigSpec": {}, "machineTemplate": _MACHINE_TEMPLATE, **spec}}


def test_negative_replicas_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(replicas=-1))
    assert _error_locations(caught.value) == [(("spec", "replicas"), "greater_than_equal")]


def test_negative_hosted_control_plane_replicas_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0smotronControlPlane.new("kmcp", spec={"replicas": -3})
    assert _error_locations(caught.value) == [(("spec", "replicas"), "greater_than_equal")]


@pytest.mark.parametrize("replicas", ["three", "3", 3.5, True])
def test_replicas_that_are_not_an_integer_are_rejected_as_a_wrong_type_as_the_api_server_does(replicas: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(replicas=replicas))
    assert _error_locations(caught.value) == [(("spec", "replicas"), "int_type")]


def test_an_unknown_update_strategy_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(updateStrategy="RollingUpdate"))
    assert _error_locations(caught.value) == [(("spec", "updateStrategy"), "literal_error")]


def test_a_misspelled_tunneling_mode_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(k0sConfigSpec={"tunneling": {"mode": "tunel"}}))
    assert _error_locations(caught.value) == [(("spec", "k0sConfigSpec", "tunneling", "mode"), "literal_error")]


def test_a_tunneling_port_out_of_range_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(k0sConfigSpec={"tunneling": {"tunnelingNodePort": 65536}}))
    assert _error_locations(caught.value) == [
        (("spec", "k0sConfigSpec", "tunneling", "tunnelingNodePort"), "less_than_equal")]


def test_a_machine_template_without_an_infrastructure_ref_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(machineTemplate={"metadata": {"labels": {"a": "b"}}}))
    assert _error_locations(caught.value) == [(("spec", "machineTemplate", "infrastructureRef"), "missing")]


def test_a_control_plane_without_a_k0s_config_spec_is_rejected_naming_the_field() -> None:
    manifest = _control_plane()
    del manifest["spec"]["k0sConfigSpec"]
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(manifest)
    assert _error_locations(caught.value) == [(("spec", "k0sConfigSpec"), "missing")]


def test_the_v1beta2_machine_template_shape_is_rejected_as_unknown() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(machineTemplate={
            "infrastructureRef": _MACHINE_TEMPLATE["infrastructureRef"],
            "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "X", "name": "x"}},
        }))
    assert _error_locations(caught.value) == [(("spec", "machineTemplate", "spec"), "extra_forbidden")]


def test_an_api_group_in_the_infrastructure_ref_is_rejected_as_unknown() -> None:
    ref = {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DockerMachineTemplate", "name": "x"}
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(_control_plane(machineTemplate={"infrastructureRef": ref}))
    assert _error_locations(caught.value) == [
        (("spec", "machineTemplate", "infrastructureRef", "apiGroup"), "extra_forbidden")]


def test_a_template_with_an_infrastructure_ref_in_its_machine_template_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControlPlaneTemplate.new("t", spec={"template": {"spec": {
            "k0sConfigSpec": {}, "machineTemplate": _MACHINE_TEMPLATE}}})
    assert _error_locations(caught.value) == [
        (("spec", "template", "spec", "machineTemplate", "infrastructureRef"), "extra_forbidden")]


def test_a_status_replica_count_of_the_wrong_type_is_rejected_naming_the_field() -> None:
    manifest = _control_plane()
    manifest["status"] = {"readyReplicas": [1]}
    with pytest.raises(ValidationError) as caught:
        K0sControlPlane.model_validate(manifest)
    assert _error_locations(caught.value) == [(("status", "readyReplicas"), "int_type")]


# --- CRDs --------------------------------------------------------------------------------------------------------

ALL_KINDS = [K0sControlPlane, K0sControlPlaneTemplate, K0smotronControlPlane, K0smotronControlPlaneTemplate]


@pytest.mark.parametrize("model", ALL_KINDS, ids=lambda m: m.__name__)
def test_each_control_plane_crd_is_structural_and_carries_the_provider_label_templates_included(model: Any) -> None:
    crd = crd_for(model)
    assert _schema.validate_crd(crd) == []
    assert crd["metadata"]["labels"] == {"cluster.x-k8s.io/v1beta1": "v1beta1",
                                         "cluster.x-k8s.io/provider": "control-plane-k0smotron"}
    assert crd["spec"]["group"] == "controlplane.cluster.x-k8s.io"


@pytest.mark.parametrize("model", [K0sControlPlane, K0smotronControlPlane], ids=lambda m: m.__name__)
def test_both_control_planes_have_the_scale_subresource_and_the_v1beta1_printer_columns(model: Any) -> None:
    [version] = crd_for(model)["spec"]["versions"]
    assert version["subresources"] == {"status": {}, "scale": {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector"}}
    columns = version["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"], c["type"]) for c in columns] == [
        ("Cluster", ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']", "string"),
        ("API Server Available", ".status.ready", "boolean"),
        ("Desired", ".spec.replicas", "integer"),
        ("Replicas", ".status.replicas", "integer"),
        ("Ready", ".status.readyReplicas", "integer"),
        ("Updated", ".status.updatedReplicas", "integer"),
        ("Unavailable", ".status.unavailableReplicas", "integer"),
        ("Age", ".metadata.creationTimestamp", "date"),
        ("Version", ".spec.version", "string"),
    ]
    assert [c.get("priority", 0) for c in columns] == [0, 0, 10, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("model", [K0sControlPlaneTemplate, K0smotronControlPlaneTemplate], ids=lambda m: m.__name__)
def test_the_template_crds_have_no_scale_subresource_and_no_printer_columns(model: Any) -> None:
    [version] = crd_for(model)["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    assert "additionalPrinterColumns" not in version


def test_the_control_plane_status_schema_carries_the_v1beta1_contract_fields() -> None:
    status = openapi_schema(K0sControlPlane)["properties"]["status"]["properties"]
    assert sorted(status) == [
        "conditions", "externalManagedControlPlane", "failureMessage", "failureReason", "initialization",
        "initialized", "ready", "readyReplicas", "replicas", "selector", "unavailableReplicas", "updatedReplicas",
        "v1beta2", "version"]
    assert status["initialization"]["properties"]["controlPlaneInitialized"]["type"] == "boolean"
    assert openapi_schema(K0smotronControlPlane)["properties"]["status"]["properties"] == status


def test_every_spec_field_of_the_k0s_control_plane_kinds_is_documented_in_the_crd() -> None:
    def undocumented(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for name, child in node.get("properties", {}).items():
            if not child.get("description"):
                missing.append(f"{path}.{name}")
            missing += undocumented(child, f"{path}.{name}")
            missing += undocumented(child.get("items", {}), f"{path}.{name}[*]")
        return missing

    assert undocumented(openapi_schema(K0sControlPlane)["properties"]["spec"], "spec") == []
    assert undocumented(openapi_schema(K0sControlPlaneTemplate)["properties"]["spec"]["properties"]["template"],
                        "spec.template") == []
