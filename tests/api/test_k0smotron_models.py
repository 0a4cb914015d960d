"""The k0smotron.io models (Cluster, JoinTokenRequest) and ClusterSpec, which K0smotronControlPlane shares."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML

from k0smotron_core.api._base import Resource
from k0smotron_core.api.k0smotron import (
    DEFAULT_ETCD_IMAGE,
    Cluster,
    ClusterSpec,
    JoinTokenRequest,
)


def _yaml(text: str) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def _error_paths(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


# The K0smotronControlPlane of the remote machine provider guide (seed 002); its spec is a ClusterSpec.
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

FULL_CLUSTER = """
apiVersion: k0smotron.io/v1beta1
kind: Cluster
metadata:
  name: k0smotron-test
  namespace: default
spec:
  kubeconfigRef:
    name: hosting-kubeconfig
    namespace: hosting
    key: value
  replicas: 3
  image: quay.io/k0sproject/k0s
  serviceAccount: kmc
  version: v1.31.2-k0s.0
  externalAddress: 10.0.0.10
  ingress:
    deploy: true
    port: 443
    apiHost: api.example.com
    konnectivityHost: konnectivity.example.com
    className: haproxy
    annotations:
      haproxy.org/ssl-passthrough: "true"
  service:
    type: LoadBalancer
    apiPort: 6443
    konnectivityPort: 8132
    annotations:
      metallb.universe.tf/loadBalancerIPs: 10.0.0.10
    labels:
      team: platform
    loadBalancerClass: metallb
    externalTrafficPolicy: Local
  persistence:
    type: pvc
    autoDeletePVCs: true
    persistentVolumeClaim:
      metadata:
        name: kmc-data
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: local-path
        resources:
          requests:
            storage: 250Mi
  kineDataSourceURL: postgres://user:pass@postgres:5432/kine
  kineDataSourceSecretName: kine-datasource
  k0sConfig:
    apiVersion: k0s.k0sproject.io/v1beta1
    kind: ClusterConfig
    spec:
      telemetry:
        enabled: false
  certificateRefs:
    - type: ca
      name: k0smotron-test-ca
    - type: apiserver-etcd-client
      name: k0smotron-test-apiserver-etcd-client
  manifests:
    - name: addons
      configMap:
        name: addons
  mounts:
    - path: /etc/extra
      readOnly: true
      secret:
        secretName: extra
  controllerPlaneFlags:
    - --enable-metrics-scraper
    - --debug=true
  monitoring:
    enabled: true
    prometheusImage: quay.io/k0sproject/prometheus:v2.44.0
    proxyImage: nginx:1.19.10
  etcd:
    image: quay.io/k0sproject/etcd:v3.5.13
    args: [--auto-compaction-retention=1]
    persistence:
      storageClass: fast
      size: 2Gi
    autoDeletePVCs: true
    defragJob:
      enabled: true
      schedule: 0 3 * * *
      rule: dbQuotaUsage > 0.5
      image: ghcr.io/ahrtr/etcd-defrag:v0.16.0
    resources:
      requests:
        cpu: 100m
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
  resources:
    limits:
      memory: 1Gi
  kubeconfigSecretMetadata:
    labels:
      owner: platform
    annotations:
      note: generated
status:
  reconciliationStatus: Reconciliation successful
  ready: true
  replicas: 3
  readyReplicas: 3
  updatedReplicas: 3
  selector: app=k0smotron,cluster=k0smotron-test
  conditions:
    - type: Available
      status: "True"
      lastTransitionTime: "2026-11-21T12:00:00Z"
  v1beta2:
    conditions:
      - type: Available
        status: "True"
        reason: Available
        lastTransitionTime: "2026-11-21T12:00:00Z"
"""


def test_the_seed_k0smotron_control_plane_spec_parses_as_a_cluster_spec_and_round_trips() -> None:
    spec = _yaml(SEED_K0SMOTRON_CONTROL_PLANE)["spec"]
    parsed = ClusterSpec.from_dict(spec)
    assert (parsed.version, parsed.persistence.type, parsed.service.type) == ("v1.27.2-k0s.0", "emptyDir", "NodePort")
    assert parsed.to_dict() == spec


def test_a_cluster_using_every_v1beta1_field_round_trips_losslessly() -> None:
    document = _yaml(FULL_CLUSTER)
    cluster = Cluster.from_dict(document)
    assert cluster.to_dict() == document
    assert cluster.spec.kubeconfig_ref is not None and cluster.spec.kubeconfig_ref.namespace == "hosting"
    assert cluster.spec.kine_data_source_url == "postgres://user:pass@postgres:5432/kine"
    assert cluster.spec.control_plane_flags == ["--enable-metrics-scraper", "--debug=true"]
    assert cluster.spec.service.external_traffic_policy == "Local"
    assert cluster.spec.etcd.persistence.size == "2Gi"


def test_a_mount_keeps_its_inline_volume_source() -> None:
    cluster = Cluster.from_dict(_yaml(FULL_CLUSTER))
    assert cluster.spec.mounts is not None
    [mount] = cluster.spec.mounts
    assert (mount.path, mount.read_only) == ("/etc/extra", True)
    assert mount.to_dict() == {"path": "/etc/extra", "readOnly": True, "secret": {"secretName": "extra"}}


def test_control_plane_flags_travel_under_the_v1beta1_key_controller_plane_flags() -> None:
    spec = ClusterSpec(control_plane_flags=["--debug"])
    assert spec.to_dict() == {"controllerPlaneFlags": ["--debug"]}
    with pytest.raises(ValidationError) as raised:
        ClusterSpec.from_dict({"controlPlaneFlags": ["--debug"]})
    assert _error_paths(raised.value) == {"controlPlaneFlags"}


def test_an_empty_cluster_spec_gets_the_upstream_defaults_and_writes_nothing_back() -> None:
    spec = ClusterSpec.from_dict({})
    assert spec.replicas == 1
    assert spec.image == "quay.io/k0sproject/k0s"
    assert (spec.service.type, spec.service.api_port, spec.service.konnectivity_port) == ("ClusterIP", 30443, 30132)
    assert (spec.persistence.type, spec.persistence.auto_delete_pvcs) == ("emptyDir", False)
    assert spec.etcd.image == DEFAULT_ETCD_IMAGE
    assert spec.etcd.persistence.size == "1Gi"
    defrag = spec.etcd.defrag_job
    assert (defrag.enabled, defrag.schedule, defrag.image) == (False, "0 12 * * *", "ghcr.io/ahrtr/etcd-defrag:v0.16.0")
    assert spec.to_dict() == {}


def test_nested_objects_get_their_own_defaults() -> None:
    spec = ClusterSpec.from_dict({
        "kubeconfigRef": {"name": "kc", "namespace": "ns"},
        "ingress": {"apiHost": "api.example.com", "konnectivityHost": "konn.example.com"},
        "monitoring": {"enabled": True},
    })
    assert spec.kubeconfig_ref is not None and spec.kubeconfig_ref.key == "value"
    assert spec.ingress is not None and spec.ingress.port == 443
    assert spec.monitoring is not None
    assert (spec.monitoring.prometheus_image, spec.monitoring.proxy_image) == (
        "quay.io/k0sproject/prometheus:v2.44.0", "nginx:1.19.10")


def test_a_cluster_without_spec_defaults_to_a_node_port_service_as_the_crd_does() -> None:
    cluster = Cluster.from_dict({"apiVersion": "k0smotron.io/v1beta1", "kind": "Cluster", "metadata": {"name": "c"}})
    assert cluster.spec.service.type == "NodePort"
    assert Cluster.from_dict({"metadata": {"name": "c"}, "spec": None}).spec.service.type == "NodePort"


def test_the_image_carries_the_version_with_a_k0s_suffix() -> None:
    assert ClusterSpec().get_image() == "quay.io/k0sproject/k0s:v1.27.9-k0s.0"
    assert ClusterSpec(version="v1.31.2+k0s.0").get_image() == "quay.io/k0sproject/k0s:v1.31.2-k0s.0"
    assert ClusterSpec(version="v1.31.2", image="my/k0s").get_image() == "my/k0s:v1.31.2-k0s.0"


def test_negative_replicas_are_rejected_at_spec_replicas() -> None:
    with pytest.raises(ValidationError) as raised:
        Cluster.from_dict({"metadata": {"name": "c"}, "spec": {"replicas": -1}})
    assert _error_paths(raised.value) == {"spec.replicas"}


def test_a_misspelt_service_type_is_rejected_at_spec_service_type() -> None:
    with pytest.raises(ValidationError) as raised:
        Cluster.from_dict({"metadata": {"name": "c"}, "spec": {"service": {"type": "Nodeport"}}})
    assert _error_paths(raised.value) == {"spec.service.type"}
    assert "'ClusterIP', 'NodePort' or 'LoadBalancer'" in str(raised.value)


def test_a_service_port_out_of_range_is_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        ClusterSpec.from_dict({"service": {"apiPort": 70000}})
    assert _error_paths(raised.value) == {"service.apiPort"}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"replicas": "three"}, "spec.replicas"),
        ({"controllerPlaneFlags": "--debug"}, "spec.controllerPlaneFlags"),
        ({"service": {"externalTrafficPolicy": "Everywhere"}}, "spec.service.externalTrafficPolicy"),
        ({"certificateRefs": [{"type": "kubelet", "name": "x"}]}, "spec.certificateRefs.0.type"),
        ({"ingress": {"apiHost": "api.example.com"}}, "spec.ingress.konnectivityHost"),
        ({"kubeconfigRef": {"name": "kc"}}, "spec.kubeconfigRef.namespace"),
        ({"monitoring": {"prometheusImage": "p"}}, "spec.monitoring.enabled"),
        ({"mounts": [{"readOnly": True}]}, "spec.mounts.0.path"),
        ({"etcd": {"persistence": {"size": ["1Gi"]}}}, "spec.etcd.persistence.size"),
    ],
)
def test_wrong_types_and_missing_required_fields_are_rejected_with_their_path(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Cluster.from_dict({"metadata": {"name": "c"}, "spec": spec})
    # An int-or-string field reports one error per member of the union, under `<path>.int` and `<path>.str`.
    assert any(p == path or p.startswith(f"{path}.") for p in _error_paths(raised.value))


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"replica": 1}, "spec.replica"),
        ({"service": {"nodePort": 30000}}, "spec.service.nodePort"),
        ({"etcd": {"defragJob": {"cron": "x"}}}, "spec.etcd.defragJob.cron"),
        ({"storage": {"type": "etcd"}}, "spec.storage"),
    ],
)
def test_unknown_fields_are_rejected_with_their_path(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Cluster.from_dict({"metadata": {"name": "c"}, "spec": spec})
    assert _error_paths(raised.value) == {path}


def test_the_cluster_crd_is_a_scalable_kmc_without_cluster_api_labels() -> None:
    info = Cluster.crd
    assert (info.group, info.kind, info.plural, info.short_names) == ("k0smotron.io", "Cluster", "clusters", ("kmc",))
    assert info.status_subresource and info.scale_subresource
    assert info.provider is None and not info.contract_label and info.categories == ()


JOIN_TOKEN_REQUEST = """
apiVersion: k0smotron.io/v1beta1
kind: JoinTokenRequest
metadata:
  name: edge-token
  namespace: default
spec:
  clusterRef:
    name: k0smotron-test
    namespace: default
  expiry: 1h
  role: controller
status:
  reconciliationStatus: Reconciliation successful
  tokenID: abcdef
  clusterUID: 0b6c7c07-4b9f-4a8e-9a1f-5d2f4c3b2a10
"""


def test_a_join_token_request_round_trips_losslessly() -> None:
    document = _yaml(JOIN_TOKEN_REQUEST)
    request = JoinTokenRequest.from_dict(document)
    assert request.to_dict() == document
    assert request.status is not None and request.status.token_id == "abcdef"


def test_a_join_token_request_defaults_to_a_worker_token_that_never_expires() -> None:
    spec = {"clusterRef": {"name": "c", "namespace": "d"}}
    request = JoinTokenRequest.from_dict({"metadata": {"name": "t"}, "spec": spec})
    assert request.spec is not None
    assert (request.spec.expiry, request.spec.role) == ("0s", "worker")
    assert JoinTokenRequest.from_dict({"metadata": {"name": "t"}}).spec is None


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({}, "spec.clusterRef"),
        ({"clusterRef": {"name": "c"}}, "spec.clusterRef.namespace"),
        ({"clusterRef": {"name": "c", "namespace": "d"}, "role": "master"}, "spec.role"),
        ({"clusterName": "c"}, "spec.clusterName"),
    ],
)
def test_an_invalid_join_token_request_is_rejected_with_its_path(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as raised:
        JoinTokenRequest.from_dict({"metadata": {"name": "t"}, "spec": spec})
    assert path in _error_paths(raised.value)


def test_the_join_token_request_crd_has_the_short_name_jtr() -> None:
    info = JoinTokenRequest.crd
    assert (info.plural, info.short_names, info.status_subresource, info.scale_subresource) == (
        "jointokenrequests", ("jtr",), True, False)
    assert info.provider is None and not info.contract_label


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack = [root]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            for candidate in _nested(field.annotation):
                stack.append(candidate)
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested(arg)]


@pytest.mark.parametrize("kind", [Cluster, JoinTokenRequest], ids=lambda k: k.__name__)
def test_every_field_is_documented(kind: type[BaseModel]) -> None:
    undocumented = [f"{model.__name__}.{name}" for model in _models(kind) if model.__module__.endswith("k0smotron")
                    for name, field in model.model_fields.items()
                    if not field.description and name not in Resource.model_fields]
    assert undocumented == []
