"""The bootstrap provider's models: the user guide's manifests parse and dump back unchanged, defaults match upstream,
and bad input is refused naming the offending field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from k0smotron_core.api.bootstrap import (
    K0sConfigSpec,
    K0sControllerConfig,
    K0sControllerConfigSpec,
    K0sWorkerConfig,
    K0sWorkerConfigSpec,
    K0sWorkerConfigTemplate,
    TunnelingSpec,
)
from k0smotron_core.crdgen import crd_for, openapi_schema
from k0smotron_core.envtest import _schema


def _load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def _error_locations(error: ValidationError) -> list[tuple[tuple[int | str, ...], str]]:
    return [(e["loc"], e["type"]) for e in error.errors()]


# --- the user guide's manifests (docs: Cluster API - Bootstrap provider, Remote machine provider) -----------------

SEED_WORKER_CONFIGS = {
    "machine-test-config": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: machine-test-config
  namespace: default
spec:
  version: v1.27.2+k0s.0
""",
    "worker-config-pre-start": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-config
spec:
  version: v1.27.2+k0s.0
  preStartCommands:
    - "apt-get update && apt-get install -y curl jq"
    - "mkdir -p /etc/k0s/monitoring"
    - "echo 'export MONITORING_ENABLED=true' >> /etc/environment"
""",
    "worker-config-post-start": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-config
spec:
  version: v1.27.2+k0s.0
  postStartCommands:
    - "systemctl enable monitoring-agent"
    - "systemctl start monitoring-agent"
    - "kubectl get nodes --kubeconfig=/var/lib/k0s/pki/admin.conf"
""",
    "worker-with-monitoring": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-with-monitoring
spec:
  version: v1.27.2+k0s.0
  preStartCommands:
    - "curl -fsSL https://get.docker.com | sh"
    - "systemctl enable docker"
    - "systemctl start docker"
  postStartCommands:
    - "docker run -d --name node-exporter -p 9100:9100 prom/node-exporter"
    - "echo 'Node exporter started on port 9100'"
""",
    "worker-with-config": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-with-config
spec:
  version: v1.27.2+k0s.0
  preStartCommands:
    - "echo 'vm.max_map_count=262144' >> /etc/sysctl.conf"
    - "sysctl -p"
    - "echo 'net.core.somaxconn=65535' >> /etc/sysctl.conf"
    - "sysctl -p"
  postStartCommands:
    - "echo 'System configuration applied successfully'"
    - "sysctl vm.max_map_count net.core.somaxconn"
""",
    "worker-with-health-checks": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: worker-with-health-checks
spec:
  version: v1.27.2+k0s.0
  postStartCommands:
    - "kubectl get nodes --kubeconfig=/var/lib/k0s/pki/admin.conf"
    - "kubectl describe node $(hostname) --kubeconfig=/var/lib/k0s/pki/admin.conf"
    - "echo 'Health check completed successfully'"
""",
    "remote-test-0": """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: remote-test-0
  namespace: default
spec:
  version: v1.27.2+k0s.0
""",
}

SEED_WORKER_CONFIG_TEMPLATE = """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfigTemplate
metadata:
  name: md-test-config
  namespace: default
spec:
  template:
    spec:
      version: v1.27.2+k0s.0
      # More details of the worker configuration can be set here
"""

FULL_WORKER_CONFIG = """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: everything
  namespace: default
  labels: {cluster.x-k8s.io/cluster-name: cp-test}
spec:
  version: v1.30.2+k0s.0
  ignition:
    variant: flatcar
    version: 1.0.0
    additionalConfig: |
      variant: flatcar
      version: 1.0.0
  k0sInstallDir: /opt/bin
  useSystemHostname: true
  files:
    - path: /etc/motd
      content: hello
      permissions: "0644"
    - path: /etc/secret.conf
      contentFrom:
        secretRef: {name: my-secret, key: conf}
    - path: /etc/cm.conf
      contentFrom:
        configMapRef: {name: my-cm, key: conf}
  args: [--labels=pool=a, --taints=dedicated=a:NoSchedule]
  preStartCommands: [echo pre]
  postStartCommands: [echo post]
  preInstalledK0s: false
  downloadURL: oci://registry.example.com/k0s:v1.30.2
  customUserDataRef:
    configMapRef: {name: user-data, key: value}
  secretMetadata:
    labels: {team: a}
    annotations: {note: b}
  workingDir: /var/lib/k0smotron
status:
  ready: true
  dataSecretName: everything
  initialization: {dataSecretCreated: true}
  observedGeneration: 2
  conditions:
    - type: Ready
      status: "True"
      lastTransitionTime: "2025-01-01T00:00:00Z"
    - type: DataSecretAvailable
      status: "False"
      severity: Warning
      reason: WaitingForControlPlaneInitialization
      message: waiting
      lastTransitionTime: "2025-01-01T00:00:00Z"
  v1beta2:
    conditions:
      - type: Ready
        status: "True"
        reason: Ready
        lastTransitionTime: "2025-01-01T00:00:00Z"
        observedGeneration: 2
"""

FULL_CONTROLLER_CONFIG = """
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sControllerConfig
metadata:
  name: cp-test-0
  namespace: default
spec:
  version: v1.30.2+k0s.0
  k0s:
    apiVersion: k0s.k0sproject.io/v1beta1
    kind: ClusterConfig
    metadata: {name: k0s}
    spec:
      api:
        extraArgs: {anonymous-auth: "true"}
      network: {provider: calico, calico: {mode: vxlan}}
  args: [--enable-worker, --no-taints]
  tunneling:
    enabled: true
    serverAddress: 10.0.0.1
    serverNodePort: 31700
    tunnelingNodePort: 31443
    mode: proxy
  files:
    - path: /etc/k0s/extra.yaml
      content: "a: b"
  preInstalledK0s: true
  secretMetadata:
    labels: {team: a}
  workingDir: /etc/k0smotron
status:
  ready: false
  failureReason: InvalidConfiguration
  failureMessage: bad
"""


@pytest.mark.parametrize("name", sorted(SEED_WORKER_CONFIGS))
def test_each_worker_config_of_the_user_guide_round_trips_losslessly(name: str) -> None:
    manifest = _load(SEED_WORKER_CONFIGS[name])
    assert K0sWorkerConfig.model_validate(manifest).to_dict() == manifest


@pytest.mark.parametrize("name", sorted(SEED_WORKER_CONFIGS))
def test_each_worker_config_of_the_user_guide_is_accepted_by_the_generated_crd_schema(name: str) -> None:
    assert _schema.validate(_load(SEED_WORKER_CONFIGS[name]), openapi_schema(K0sWorkerConfig)) == []


def test_the_worker_config_template_of_the_user_guide_round_trips_losslessly() -> None:
    manifest = _load(SEED_WORKER_CONFIG_TEMPLATE)
    template = K0sWorkerConfigTemplate.model_validate(manifest)
    assert template.spec.template.spec.version == "v1.27.2+k0s.0"
    assert template.to_dict() == manifest


def test_a_worker_config_with_pre_start_commands_round_trips_keeping_their_order() -> None:
    manifest = _load(SEED_WORKER_CONFIGS["worker-with-config"])
    config = K0sWorkerConfig.model_validate(manifest)
    assert config.spec.pre_start_commands == [
        "echo 'vm.max_map_count=262144' >> /etc/sysctl.conf",
        "sysctl -p",
        "echo 'net.core.somaxconn=65535' >> /etc/sysctl.conf",
        "sysctl -p",
    ]
    assert config.to_dict() == manifest


def test_a_worker_config_using_every_field_and_status_round_trips_losslessly() -> None:
    manifest = _load(FULL_WORKER_CONFIG)
    config = K0sWorkerConfig.model_validate(manifest)
    assert config.to_dict() == manifest
    assert config.spec.files is not None and config.spec.files[1].content_from is not None
    assert config.spec.files[1].content_from.secret_ref is not None
    assert config.spec.files[1].content_from.secret_ref.key == "conf"
    assert config.status is not None and config.status.initialization is not None
    assert config.status.initialization.data_secret_created is True


def test_a_controller_config_with_a_free_form_k0s_config_and_tunneling_round_trips_losslessly() -> None:
    manifest = _load(FULL_CONTROLLER_CONFIG)
    config = K0sControllerConfig.model_validate(manifest)
    assert config.spec.k0s is not None and config.spec.k0s["spec"]["network"]["calico"] == {"mode": "vxlan"}
    assert config.spec.tunneling.mode == "proxy"
    assert config.to_dict() == manifest


def test_the_full_examples_are_accepted_by_the_generated_crd_schemas() -> None:
    assert _schema.validate(_load(FULL_WORKER_CONFIG), openapi_schema(K0sWorkerConfig)) == []
    assert _schema.validate(_load(FULL_CONTROLLER_CONFIG), openapi_schema(K0sControllerConfig)) == []


def test_wire_names_that_are_not_plain_camel_case_are_kept() -> None:
    spec = K0sWorkerConfigSpec(download_url="https://get.k0s.sh/k0s", pre_installed_k0s=True, k0s_install_dir="/b")
    assert spec.to_dict() == {"downloadURL": "https://get.k0s.sh/k0s", "preInstalledK0s": True, "k0sInstallDir": "/b"}


# --- defaults ----------------------------------------------------------------------------------------------------


def test_a_worker_spec_installs_k0s_into_usr_local_bin_and_names_nodes_after_machines_by_default() -> None:
    spec = K0sWorkerConfigSpec()
    assert spec.k0s_install_dir == "/usr/local/bin"
    assert spec.use_system_hostname is False
    assert spec.version is None and spec.working_dir is None


def test_a_controller_spec_has_the_k0s_config_spec_defaults_and_an_optional_version() -> None:
    spec = K0sControllerConfigSpec()
    assert spec.k0s_install_dir == "/usr/local/bin"
    assert spec.use_system_hostname is False
    assert spec.version is None
    assert spec.tunneling == TunnelingSpec()


def test_tunneling_defaults_to_a_disabled_tunnel_on_node_ports_31700_and_31443() -> None:
    tunneling = TunnelingSpec()
    assert (tunneling.enabled, tunneling.mode) == (False, "tunnel")
    assert (tunneling.server_node_port, tunneling.tunneling_node_port) == (31700, 31443)
    assert tunneling.server_address is None


def test_defaults_are_not_written_back_into_the_wire_form() -> None:
    manifest = {"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "K0sControllerConfig",
                "metadata": {"name": "c"}, "spec": {"tunneling": {"enabled": True}}}
    config = K0sControllerConfig.model_validate(manifest)
    assert config.spec.tunneling.tunneling_node_port == 31443
    assert config.to_dict() == manifest


def test_defaults_appear_in_the_generated_crd() -> None:
    spec = openapi_schema(K0sControllerConfig)["properties"]["spec"]["properties"]
    assert spec["k0sInstallDir"]["default"] == "/usr/local/bin"
    assert spec["useSystemHostname"]["default"] is False
    tunneling = spec["tunneling"]["properties"]
    assert tunneling["enabled"]["default"] is False
    assert tunneling["mode"] == {"type": "string", "enum": ["tunnel", "proxy"], "default": "tunnel",
                                 "description": "Mode describes tunneling mode.\n"
                                                "If empty, k0smotron will use the default one."}
    assert (tunneling["serverNodePort"]["default"], tunneling["tunnelingNodePort"]["default"]) == (31700, 31443)
    assert spec["k0s"]["x-kubernetes-preserve-unknown-fields"] is True


def test_k0s_config_and_join_token_live_in_etc_unless_a_working_dir_is_given() -> None:
    assert (K0sConfigSpec().k0s_config_path, K0sConfigSpec().join_token_path) == ("/etc/k0s.yaml", "/etc/k0s.token")
    spec = K0sWorkerConfigSpec(working_dir="/var/lib/k0smotron/")
    assert (spec.k0s_config_path, spec.join_token_path) == ("/var/lib/k0smotron/k0s.yaml",
                                                            "/var/lib/k0smotron/k0s.token")


def test_an_ignition_block_switches_the_bootstrap_data_format_to_ignition() -> None:
    assert K0sWorkerConfig.new("w").provisioning_format == "cloud-config"
    config = K0sWorkerConfig.new("w", spec={"ignition": {"variant": "fcos", "version": "1.5.0"}})
    assert config.provisioning_format == "ignition"
    assert K0sControllerConfig.new("c").provisioning_format == "cloud-config"


# --- invalid input -----------------------------------------------------------------------------------------------


def test_a_misspelled_tunneling_mode_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControllerConfig.new("c", spec={"tunneling": {"enabled": True, "mode": "tunel"}})
    assert _error_locations(caught.value) == [(("spec", "tunneling", "mode"), "literal_error")]
    assert "'tunnel' or 'proxy'" in str(caught.value)


def test_a_tunneling_node_port_out_of_range_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControllerConfig.new("c", spec={"tunneling": {"serverNodePort": 70000, "tunnelingNodePort": 0}})
    assert _error_locations(caught.value) == [
        (("spec", "tunneling", "serverNodePort"), "less_than_equal"),
        (("spec", "tunneling", "tunnelingNodePort"), "greater_than_equal"),
    ]


def test_a_v1beta2_only_field_is_rejected_as_unknown_naming_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfig.new("w", spec={"version": "v1.30.2+k0s.0", "preK0sCommands": ["echo hi"]})
    assert _error_locations(caught.value) == [(("spec", "preK0sCommands"), "extra_forbidden")]


def test_an_unknown_field_deep_in_a_template_is_rejected_naming_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfigTemplate.new("t", spec={"template": {"spec": {"files": [{"path": "/a", "mode": "0644"}]}}})
    assert _error_locations(caught.value) == [(("spec", "template", "spec", "files", 0, "mode"), "extra_forbidden")]


def test_commands_given_as_a_single_string_are_rejected_as_a_wrong_type() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfig.new("w", spec={"preStartCommands": "apt-get update"})
    assert _error_locations(caught.value) == [(("spec", "preStartCommands"), "list_type")]


def test_a_boolean_given_as_an_object_is_rejected_as_a_wrong_type() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sControllerConfig.new("c", spec={"useSystemHostname": {"yes": True}})
    assert _error_locations(caught.value) == [(("spec", "useSystemHostname"), "bool_type")]


def test_an_ignition_block_needs_a_known_variant_and_a_version() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfig.new("w", spec={"ignition": {"variant": "ubuntu"}})
    assert _error_locations(caught.value) == [
        (("spec", "ignition", "variant"), "literal_error"),
        (("spec", "ignition", "version"), "missing"),
    ]


def test_a_content_source_reference_needs_both_name_and_key() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfig.new("w", spec={"files": [{"path": "/a", "contentFrom": {"secretRef": {"name": "s"}}}]})
    assert _error_locations(caught.value) == [
        (("spec", "files", 0, "contentFrom", "secretRef", "key"), "missing"),
    ]


def test_a_condition_with_an_unknown_status_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        K0sWorkerConfig.new("w", status={"conditions": [{"type": "Ready", "status": "Yes"}]})
    assert _error_locations(caught.value) == [(("status", "conditions", 0, "status"), "literal_error")]


# --- CRDs --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [K0sWorkerConfig, K0sWorkerConfigTemplate, K0sControllerConfig])
def test_each_bootstrap_crd_is_structural_and_carries_the_contract_and_provider_labels(model: Any) -> None:
    crd = crd_for(model)
    assert _schema.validate_crd(crd) == []
    assert crd["metadata"]["labels"] == {"cluster.x-k8s.io/v1beta1": "v1beta1",
                                         "cluster.x-k8s.io/provider": "bootstrap-k0smotron"}
    assert crd["spec"]["group"] == "bootstrap.cluster.x-k8s.io"
    [version] = crd["spec"]["versions"]
    assert version["name"] == "v1beta1" and version["subresources"] == {"status": {}}


def test_the_crd_names_follow_the_upstream_plurals() -> None:
    assert [crd_for(m)["metadata"]["name"] for m in (K0sWorkerConfig, K0sWorkerConfigTemplate, K0sControllerConfig)] \
        == ["k0sworkerconfigs.bootstrap.cluster.x-k8s.io", "k0sworkerconfigtemplates.bootstrap.cluster.x-k8s.io",
            "k0scontrollerconfigs.bootstrap.cluster.x-k8s.io"]


def test_the_bootstrap_status_schema_carries_both_contract_generations() -> None:
    status = openapi_schema(K0sWorkerConfig)["properties"]["status"]["properties"]
    assert sorted(status) == ["conditions", "dataSecretName", "failureMessage", "failureReason", "initialization",
                              "observedGeneration", "ready", "v1beta2"]
    assert status["initialization"]["properties"]["dataSecretCreated"]["type"] == "boolean"
    assert status["ready"]["description"] == "Ready indicates the Bootstrapdata field is ready to be consumed"


def test_every_spec_field_is_documented_in_the_crd() -> None:
    def undocumented(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for name, child in node.get("properties", {}).items():
            if not child.get("description"):
                missing.append(f"{path}.{name}")
            missing += undocumented(child, f"{path}.{name}")
            missing += undocumented(child.get("items", {}), f"{path}.{name}[*]")
        return missing

    for model in (K0sWorkerConfig, K0sWorkerConfigTemplate, K0sControllerConfig):
        spec = openapi_schema(model)["properties"]["spec"]
        assert undocumented(spec, "spec") == [], model.__name__
