"""The `k0smotron.io` kinds: the hosted control plane `Cluster` (short name `kmc`) and `JoinTokenRequest` (`jtr`).

`ClusterSpec` is also the spec of `K0smotronControlPlane` (controlplane.cluster.x-k8s.io). Shapes follow the upstream
v1beta1 Go types (`api/k0smotron.io/v1beta1`), including the `controllerPlaneFlags` (sic) JSON key.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from ._base import (
    Condition,
    CRDInfo,
    FreeForm,
    Int64,
    IntOrString,
    KubeModel,
    NonNegativeInt32,
    Port,
    Resource,
    SecretMetadata,
    V1Beta2Status,
)

GROUP = "k0smotron.io"

DEFAULT_K0S_IMAGE = "quay.io/k0sproject/k0s"
DEFAULT_K0S_VERSION = "v1.27.9-k0s.0"
DEFAULT_K0S_SUFFIX = "k0s.0"
DEFAULT_ETCD_IMAGE = "quay.io/k0sproject/etcd:v3.7.1"
DEFAULT_DEFRAG_IMAGE = "ghcr.io/ahrtr/etcd-defrag:v0.16.0"
DEFAULT_DEFRAG_SCHEDULE = "0 12 * * *"
DEFAULT_DEFRAG_RULE = "dbQuotaUsage > 0.8 || dbSize - dbSizeInUse > 200*1024*1024"

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
CertificateType = Literal["ca", "sa", "proxy", "etcd", "apiserver-etcd-client", "etcd-peer", "etcd-server"]



# --- ClusterSpec ----------------------------------------------------------------------------------------------------


class KubeconfigRef(KubeModel):
    """Reference to the Secret holding the kubeconfig of the hosting cluster."""

    name: str = Field(min_length=1)
    """Name is the name of the secret containing the kubeconfig of the hosting cluster."""
    namespace: str = Field(min_length=1)
    """Namespace is the namespace of the secret containing the kubeconfig of the hosting cluster."""
    key: str = "value"
    """Key is the key in the secret containing the kubeconfig of the hosting cluster."""


class IngressSpec(KubeModel):
    """Ingress configuration for accessing the Kubernetes API and konnectivity server via host names."""

    deploy: bool | None = None
    """Deploy defines whether to deploy an ingress resource for the cluster or let the user do it manually.
    Default: true"""
    port: Int64 = 443
    """Port defines the port used by the ingress controller."""
    api_host: str
    """APIHost is the host name on which the Kubernetes API is exposed through the ingress."""
    konnectivity_host: str
    """KonnectivityHost is the host name on which the konnectivity server is exposed through the ingress."""
    class_name: str | None = None
    """ClassName defines the ingress class name to be used by the ingress controller."""
    annotations: dict[str, str] | None = None
    """Annotations defines extra annotations to be added to the ingress controller service."""


class ServiceSpec(KubeModel):
    """How the control plane is exposed: the Service type, its ports and extra metadata."""

    type: ServiceType = "ClusterIP"
    """Type of the Service exposing the control plane: ClusterIP, NodePort or LoadBalancer."""
    api_port: Port = 30443
    """APIPort defines the kubernetes API port. If empty k0smotron will pick it automatically."""
    konnectivity_port: Port = 30132
    """KonnectivityPort defines the konnectivity port. If empty k0smotron will pick it automatically."""
    annotations: dict[str, str] | None = None
    """Annotations defines extra annotations to be added to the service."""
    labels: dict[str, str] | None = None
    """Labels defines extra labels to be added to the service."""
    load_balancer_class: str | None = None
    """LoadBalancerClass defines the load balancer class to be used for the service.
    Used only when service type is LoadBalancer."""
    external_traffic_policy: Literal["Cluster", "Local"] | None = None
    """ExternalTrafficPolicy defines the external traffic policy for the service.
    Used only when service type is NodePort or LoadBalancer."""


class PVCObjectMeta(KubeModel):
    """The subset of object metadata kept on the PersistentVolumeClaim template."""

    name: str | None = None
    """Name of the PersistentVolumeClaim (defaults to kmc-<cluster name>)."""
    namespace: str | None = None
    """Namespace of the PersistentVolumeClaim."""
    labels: dict[str, str] | None = None
    """Labels of the PersistentVolumeClaim."""
    annotations: dict[str, str] | None = None
    """Annotations of the PersistentVolumeClaim."""
    finalizers: list[str] | None = None
    """Finalizers of the PersistentVolumeClaim."""


class PersistentVolumeClaim(KubeModel):
    """A user's request for and claim to a persistent volume."""

    api_version: str | None = Field(default=None, alias="apiVersion")
    """APIVersion defines the versioned schema of this representation of an object."""
    kind: str | None = None
    """Kind is a string value representing the REST resource this object represents."""
    metadata: PVCObjectMeta | None = None
    """Standard object's metadata."""
    spec: FreeForm | None = None
    """spec defines the desired characteristics of a volume requested by a pod author
    (corev1.PersistentVolumeClaimSpec).
    More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#persistentvolumeclaims"""
    status: FreeForm | None = None
    """status represents the current information/status of a persistent volume claim. Read-only."""


class PersistenceSpec(KubeModel):
    """Where the k0s control plane keeps its data directory (/var/lib/k0s)."""

    type: str = "emptyDir"
    """Type of the volume used for the k0s data directory: emptyDir, hostPath or pvc.
    Unknown values fall back to emptyDir (upstream declares no enforced enum)."""
    persistent_volume_claim: PersistentVolumeClaim | None = None
    """PersistentVolumeClaim defines the PVC configuration.
    Will be used as is in case of .spec.persistence.type is pvc."""
    auto_delete_pvcs: bool = Field(default=False, alias="autoDeletePVCs")
    """AutoDeletePVCs defines whether the PVC should be deleted when the cluster is deleted."""
    host_path: str | None = None
    """HostPath defines the host path configuration.
    Will be used as is in case of .spec.persistence.type is hostPath."""


class EtcdPersistenceSpec(KubeModel):
    """Persistence of the etcd data volume."""

    storage_class: str | None = None
    """StorageClass defines the storage class to be used for etcd persistence.
    If empty, will be used the default storage class."""
    size: IntOrString = "1Gi"
    """Size defines the size of the etcd volume (a Kubernetes quantity). Default: 1Gi"""


class DefragJob(KubeModel):
    """The etcd defragmentation CronJob."""

    enabled: bool = False
    """Enabled enables the etcd defragmentation job."""
    schedule: str = DEFAULT_DEFRAG_SCHEDULE
    """Schedule defines the etcd defragmentation job schedule."""
    rule: str = DEFAULT_DEFRAG_RULE
    """Rule defines the etcd defragmentation job defrag-rule.
    For more information check: https://github.com/ahrtr/etcd-defrag/tree/main?tab=readme-ov-file#defragmentation-rule"""
    image: str = DEFAULT_DEFRAG_IMAGE
    """Image defines the etcd defragmentation job image."""


class EtcdSpec(KubeModel):
    """The etcd cluster k0smotron runs next to the control plane when no kine data source is set."""

    image: str = DEFAULT_ETCD_IMAGE
    """Image defines the etcd image to be deployed."""
    args: list[str] | None = None
    """Args defines the etcd arguments."""
    persistence: EtcdPersistenceSpec = Field(default_factory=EtcdPersistenceSpec)
    """Persistence defines the persistence configuration."""
    auto_delete_pvcs: bool = Field(default=False, alias="autoDeletePVCs")
    """AutoDeletePVCs defines whether the PVC should be deleted when the etcd cluster is deleted."""
    defrag_job: DefragJob = Field(default_factory=DefragJob)
    """DefragJob defines the etcd defragmentation job configuration."""
    resources: FreeForm | None = None
    """Resources defines the compute resource requirements for the etcd container (corev1.ResourceRequirements)."""


class CertificateRef(KubeModel):
    """A Secret holding one of the cluster's certificates (keys tls.crt and tls.key)."""

    type: CertificateType
    """Type of the certificate: ca, sa, proxy, etcd, apiserver-etcd-client, etcd-peer or etcd-server."""
    name: str | None = None
    """Name of the Secret holding the certificate."""


class Mount(KubeModel):
    """A volume mounted into the control plane pod; the volume source keys (secret, configMap, ...) sit inline."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    path: str = Field(min_length=1)
    """Path inside the control plane container where the volume is mounted."""
    read_only: bool | None = None
    """ReadOnly specifies whether the volume should be mounted as read-only.
    (default: false, except for ConfigMaps and Secrets)"""


class MonitoringSpec(KubeModel):
    """The optional Prometheus sidecar scraping the control plane components."""

    enabled: bool
    """Enabled enables prometheus sidecar that scrapes metrics from the child cluster system components and expose
    them as usual kubernetes pod metrics."""
    prometheus_image: str = "quay.io/k0sproject/prometheus:v2.44.0"
    """PrometheusImage defines the image used for the prometheus sidecar."""
    proxy_image: str = "nginx:1.19.10"
    """ProxyImage defines the image used for the nginx proxy sidecar."""




class ClusterSpec(KubeModel):
    """Desired state of a hosted k0s control plane (k0smotron.io Cluster, and K0smotronControlPlane's spec)."""

    kubeconfig_ref: KubeconfigRef | None = None
    """KubeconfigRef is the reference to the kubeconfig of the hosting cluster.
    This kubeconfig will be used to deploy the k0s control plane."""
    replicas: NonNegativeInt32 = 1
    """Replicas is the desired number of replicas of the k0s control planes.
    If unspecified, defaults to 1. If the value is above 1, k0smotron requires kine datasource URL to be set.
    Recommended value is 3."""
    image: str = DEFAULT_K0S_IMAGE
    """Image defines the k0s image to be deployed. If empty k0smotron
    will pick it automatically. Must not include the image tag."""
    service_account: str | None = None
    """ServiceAccount defines the service account to be used by both k0s and etcd StatefulSets."""
    version: str | None = None
    """Version defines the k0s version to be deployed. If empty k0smotron will pick it automatically."""
    external_address: str | None = None
    """ExternalAddress defines k0s external address. See https://docs.k0sproject.io/stable/configuration/#specapi
    Will be detected automatically for service type LoadBalancer."""
    ingress: IngressSpec | None = None
    """Ingress defines the ingress configuration."""
    service: ServiceSpec = Field(
        default_factory=ServiceSpec,
        json_schema_extra={"default": {"type": "ClusterIP", "apiPort": 30443, "konnectivityPort": 30132}},
    )
    """Service defines the service configuration."""
    persistence: PersistenceSpec = Field(
        default_factory=PersistenceSpec, json_schema_extra={"default": {"type": "emptyDir"}}
    )
    """Persistence defines the persistence configuration. If empty k0smotron
    will use emptyDir as a volume. See https://docs.k0smotron.io/stable/configuration/#persistence"""
    kine_data_source_url: str | None = Field(default=None, alias="kineDataSourceURL")
    """KineDataSourceURL defines the kine datasource URL.
    KineDataSourceURL or KineDataSourceSecretName are required for HA controlplane setup
    and one of them must be set if replicas > 1."""
    kine_data_source_secret_name: str | None = None
    """KineDataSourceSecretName defines the name of kine datasource URL secret.
    KineDataSourceURL or KineDataSourceSecretName are required for HA controlplane setup
    and one of them must be set if replicas > 1."""
    k0s_config: FreeForm | None = None
    """k0sConfig defines the k0s configuration. Note, that some fields will be overwritten by k0smotron.
    If empty, will be used default configuration. @see https://docs.k0sproject.io/stable/configuration/"""
    certificate_refs: list[CertificateRef] | None = None
    """CertificateRefs defines the certificate references."""
    manifests: list[FreeForm] | None = None
    """Manifests allows to specify list of volumes (corev1.Volume) with manifests to be deployed in the cluster.
    The volumes will be mounted in /var/lib/k0s/manifests/<manifests.name>, for this reason each manifest is a stack.
    K0smotron allows any kind of volume, but the recommendation is to use secrets and configmaps.
    For more information check: https://docs.k0sproject.io/stable/manifests/ and
    https://kubernetes.io/docs/concepts/storage/volumes"""
    mounts: list[Mount] | None = None
    """Mounts allows to specify list of volumes with any files to be mounted in the controlplane pod.
    K0smotron allows any kind of volume, but the recommendation is to use secrets and configmaps.
    For more information check: https://kubernetes.io/docs/concepts/storage/volumes"""
    control_plane_flags: list[str] | None = Field(default=None, alias="controllerPlaneFlags")
    """ControlPlaneFlags allows to configure additional flags for k0s control plane and to override existing ones.
    The default flags are kept unless they are overriden explicitly.
    Flags with arguments must be specified as a single string, e.g. --some-flag=argument"""
    monitoring: MonitoringSpec | None = None
    """Monitoring defines the monitoring configuration."""
    etcd: EtcdSpec = Field(
        default_factory=EtcdSpec,
        json_schema_extra={"default": {"image": DEFAULT_ETCD_IMAGE, "persistence": {}}},
    )
    """Etcd defines the etcd configuration."""
    topology_spread_constraints: list[FreeForm] | None = None
    """TopologySpreadConstraints will be passed directly to BOTH etcd and k0s pods.
    See https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/ for more details."""
    resources: FreeForm | None = None
    """Resources describes the compute resource requirements for the control plane pods
    (corev1.ResourceRequirements)."""
    kubeconfig_secret_metadata: SecretMetadata | None = None
    """KubeconfigSecretMetadata specifies metadata (labels and annotations) to be propagated to the kubeconfig Secret
    created for the workload cluster.
    Note: This metadata will have precedence over default labels/annotations on the Secret."""

    def get_image(self) -> str:
        """The k0s image with its tag: `<image>:<version>`, `+k0s.` rewritten to `-k0s.`, `-k0s.0` added if missing."""
        version = (self.version or DEFAULT_K0S_VERSION).replace("+k0s.", "-k0s.", 1)
        if "-k0s." not in version:
            version = f"{version}-{DEFAULT_K0S_SUFFIX}"
        return f"{self.image or DEFAULT_K0S_IMAGE}:{version}"


# --- Cluster --------------------------------------------------------------------------------------------------------


class ClusterStatus(KubeModel):
    """Observed state of a k0smotron.io Cluster."""

    reconciliation_status: str = ""
    """ReconciliationStatus is a human readable summary of the last reconciliation ("Reconciliation successful",
    "Failed reconciling ...")."""
    ready: bool | None = None
    """Ready is true when all desired control plane replicas are ready."""
    replicas: NonNegativeInt32 | None = None
    """Replicas is the number of control plane pods (from the StatefulSet)."""
    ready_replicas: NonNegativeInt32 | None = None
    """ReadyReplicas is the number of ready control plane pods."""
    updated_replicas: NonNegativeInt32 | None = None
    """UpdatedReplicas is the number of control plane pods running the desired pod template."""
    selector: str | None = None
    """Selector is the label selector (in string form) for pods that should match the replicas count."""
    conditions: list[Condition] | None = None
    """Conditions defines current service state of the cluster (ControlPlaneScaling, ControlPlaneUpToDate,
    ControlPlaneExposed, KubeconfigSecretAvailable, ControlPlaneFunctional, CertificatesAvailable, Deleting,
    Available)."""
    v1beta2: V1Beta2Status | None = None
    """The same conditions in metav1.Condition form."""


def _default_cluster_spec() -> ClusterSpec:
    return ClusterSpec(service=ServiceSpec(type="NodePort"))


class Cluster(Resource):
    """A hosted k0s control plane running as pods in the management (or a hosting) cluster."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="Cluster",
        plural="clusters",
        provider=None,
        short_names=("kmc",),
        categories=(),
        status_subresource=True,
        scale_subresource=True,
        contract_label=False,
    )

    spec: ClusterSpec = Field(
        default_factory=_default_cluster_spec,
        json_schema_extra={"default": {"service": {"type": "NodePort"}}},
    )
    """Desired state of the hosted control plane; defaults to a NodePort Service when omitted."""
    status: ClusterStatus | None = None
    """Observed state of the hosted control plane."""


# --- JoinTokenRequest -----------------------------------------------------------------------------------------------


class ClusterRef(KubeModel):
    """A reference to the k0smotron.io Cluster a join token is requested for."""

    name: str = Field(min_length=1, max_length=63)
    """Name of the cluster."""
    namespace: str = Field(min_length=1)
    """Namespace of the cluster."""


class JoinTokenRequestSpec(KubeModel):
    """Desired state of a JoinTokenRequest."""

    cluster_ref: ClusterRef
    """ClusterRef is the reference to the cluster for which the join token is requested."""
    expiry: str = "0s"
    """Expiration time of the token. Format 1.5h, 2h45m or 300ms. 0s means the token never expires."""
    role: Literal["worker", "controller"] = "worker"
    """Role of the node for which the token is requested (worker or controller)."""


class JoinTokenRequestStatus(KubeModel):
    """Observed state of a JoinTokenRequest."""

    reconciliation_status: str = ""
    """ReconciliationStatus is a human readable summary of the last reconciliation."""
    token_id: str | None = Field(default=None, alias="tokenID")
    """TokenID is the ID of the created token (the part before the dot), used to invalidate it on deletion."""
    cluster_uid: str | None = Field(default=None, alias="clusterUID")
    """ClusterUID is the UID of the cluster the token was created for."""
    conditions: list[Condition] | None = None
    """Conditions of the request (JoinTokenSecretCreated)."""
    v1beta2: V1Beta2Status | None = None
    """The same conditions in metav1.Condition form."""


class JoinTokenRequest(Resource):
    """A request for a k0s join token; the token is written to a Secret named like the request."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="JoinTokenRequest",
        plural="jointokenrequests",
        provider=None,
        short_names=("jtr",),
        categories=(),
        status_subresource=True,
        contract_label=False,
    )

    spec: JoinTokenRequestSpec | None = None
    """Desired state of the join token request. The API server accepts a request without one; the controller then
    has no cluster to create a token for."""
    status: JoinTokenRequestStatus | None = None
    """Observed state of the join token request."""
