"""Read-side models of the Cluster API core kinds (`cluster.x-k8s.io/v1beta1`) the k0smotron providers look at:
Cluster, Machine, MachineSet, MachineDeployment and MachineHealthCheck.

CAPI core owns these objects and they carry more fields than we model, with more arriving in each release. So
every model here keeps unknown fields (`extra="allow"`): a live object parses and dumps back losslessly
(`Cluster.from_dict(obj).to_dict() == obj`), and the schemas say `x-kubernetes-preserve-unknown-fields` so a CRD
generated from them (envtest's stand-in for CAPI) keeps them too. Field names, bounds and CRD markers follow
the Go types in `api/core/v1beta1` of kubernetes-sigs/cluster-api. Phases are plain strings, because
CAPI releases add new ones.

The v1beta1 API has `status.infrastructureReady` and `status.controlPlaneReady` on the Cluster. The v1beta2 API
has `status.initialization.*` instead. Read both through `is_infrastructure_provisioned` and
`is_control_plane_initialized` rather than by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import ConfigDict, Field

from ._base import (
    APIEndpoint,
    Condition,
    CRDInfo,
    FreeForm,
    Int32,
    Int64,
    IntOrString,
    KubeModel,
    MetaCondition,
    NonNegativeInt32,
    ObjectMeta,
    ObjectReference,
    PrinterColumn,
    Resource,
    TemplateMeta,
    V1Beta2Status,
)

GROUP: Final = "cluster.x-k8s.io"
CAPI_API_VERSION: Final = "cluster.x-k8s.io/v1beta1"
PROVIDER: Final = "cluster-api"
"""The clusterctl provider label value of CAPI core."""

# --- labels ------------------------------------------------------------------------------------------------------

CLUSTER_NAME_LABEL: Final = "cluster.x-k8s.io/cluster-name"
"""On every object tied to a Cluster (core adds it to referenced provider objects; secrets need it for the cache)."""
CONTROL_PLANE_LABEL: Final = "cluster.x-k8s.io/control-plane"
"""Value `""`: marks control-plane Machines (control plane providers must set it)."""
CONTROL_PLANE_NAME_LABEL: Final = "cluster.x-k8s.io/control-plane-name"
MACHINE_SET_NAME_LABEL: Final = "cluster.x-k8s.io/set-name"
MACHINE_DEPLOYMENT_NAME_LABEL: Final = "cluster.x-k8s.io/deployment-name"
MACHINE_POOL_NAME_LABEL: Final = "cluster.x-k8s.io/pool-name"
MACHINE_TEMPLATE_HASH_LABEL: Final = "machine-template-hash"
WATCH_LABEL: Final = "cluster.x-k8s.io/watch-filter"
"""Selective reconciliation (`--watch-filter`): only objects carrying this label with the configured value."""
PROVIDER_NAME_LABEL: Final = "cluster.x-k8s.io/provider"
INTERRUPTIBLE_LABEL: Final = "cluster.x-k8s.io/interruptible"
CLUSTER_TOPOLOGY_OWNED_LABEL: Final = "topology.cluster.x-k8s.io/owned"

# --- annotations -------------------------------------------------------------------------------------------------

PAUSED_ANNOTATION: Final = "cluster.x-k8s.io/paused"
"""Pauses reconciliation of the one object that carries it (any value)."""
DELETE_MACHINE_ANNOTATION: Final = "cluster.x-k8s.io/delete-machine"
"""On a Machine: delete it first on scale-down (MachineSet and control plane providers)."""
TEMPLATE_CLONED_FROM_NAME_ANNOTATION: Final = "cluster.x-k8s.io/cloned-from-name"
TEMPLATE_CLONED_FROM_GROUP_KIND_ANNOTATION: Final = "cluster.x-k8s.io/cloned-from-groupkind"
MACHINE_ANNOTATION: Final = "cluster.x-k8s.io/machine"
"""On a Node: the name of its Machine."""
CLUSTER_NAME_ANNOTATION: Final = "cluster.x-k8s.io/cluster-name"
"""On a Node: the name of its Cluster."""
CLUSTER_NAMESPACE_ANNOTATION: Final = "cluster.x-k8s.io/cluster-namespace"
OWNER_KIND_ANNOTATION: Final = "cluster.x-k8s.io/owner-kind"
OWNER_NAME_ANNOTATION: Final = "cluster.x-k8s.io/owner-name"
MANAGED_BY_ANNOTATION: Final = "cluster.x-k8s.io/managed-by"
"""On an InfraCluster: an external system manages the infrastructure, the provider must not reconcile it."""
SKIP_REMEDIATION_ANNOTATION: Final = "cluster.x-k8s.io/skip-remediation"
REMEDIATE_MACHINE_ANNOTATION: Final = "cluster.x-k8s.io/remediate-machine"
DISABLE_MACHINE_CREATE_ANNOTATION: Final = "cluster.x-k8s.io/disable-machine-create"
TOPOLOGY_DRY_RUN_ANNOTATION: Final = "topology.cluster.x-k8s.io/dry-run"
MACHINE_SET_SKIP_PREFLIGHT_CHECKS_ANNOTATION: Final = "machineset.cluster.x-k8s.io/skip-preflight-checks"
AUTOSCALER_MIN_SIZE_ANNOTATION: Final = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX_SIZE_ANNOTATION: Final = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
PRE_DRAIN_DELETE_HOOK_ANNOTATION_PREFIX: Final = "pre-drain.delete.hook.machine.cluster.x-k8s.io"
PRE_TERMINATE_DELETE_HOOK_ANNOTATION_PREFIX: Final = "pre-terminate.delete.hook.machine.cluster.x-k8s.io"
EXCLUDE_NODE_DRAINING_ANNOTATION: Final = "machine.cluster.x-k8s.io/exclude-node-draining"
EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION: Final = "machine.cluster.x-k8s.io/exclude-wait-for-node-volume-detach"
MACHINE_CERTIFICATES_EXPIRY_DATE_ANNOTATION: Final = "machine.cluster.x-k8s.io/certificates-expiry"

# --- finalizers, secrets, taints ---------------------------------------------------------------------------------

CLUSTER_FINALIZER: Final = "cluster.cluster.x-k8s.io"
MACHINE_FINALIZER: Final = "machine.cluster.x-k8s.io"
MACHINE_SET_FINALIZER: Final = "cluster.x-k8s.io/machineset"
MACHINE_DEPLOYMENT_FINALIZER: Final = "cluster.x-k8s.io/machinedeployment"
CLUSTER_SECRET_TYPE: Final = "cluster.x-k8s.io/secret"
"""Type of the secrets CAPI and providers generate (as opposed to user-supplied ones)."""
NODE_UNINITIALIZED_TAINT_KEY: Final = "node.cluster.x-k8s.io/uninitialized"
"""Key of the NoSchedule taint a bootstrap provider may put on a joining Node; core removes it."""

# --- condition types ---------------------------------------------------------------------------------------------
# v1beta1 conditions live in `status.conditions`, v1beta2 ones in `status.v1beta2.conditions`. Most type names
# are the same in both. The names that belong to only one of them are marked.

READY_CONDITION: Final = "Ready"
AVAILABLE_CONDITION: Final = "Available"
INFRASTRUCTURE_READY_CONDITION: Final = "InfrastructureReady"
CONTROL_PLANE_INITIALIZED_CONDITION: Final = "ControlPlaneInitialized"
"""Cluster: the control plane accepts requests. Once True it never changes."""
CONTROL_PLANE_READY_CONDITION: Final = "ControlPlaneReady"
"""Cluster, v1beta1 only: mirror of the control plane object's Ready condition."""
CONTROL_PLANE_AVAILABLE_CONDITION: Final = "ControlPlaneAvailable"
"""Cluster, v1beta2 only: mirror of the control plane object's Available condition."""
WORKERS_AVAILABLE_CONDITION: Final = "WorkersAvailable"
REMOTE_CONNECTION_PROBE_CONDITION: Final = "RemoteConnectionProbe"
TOPOLOGY_RECONCILED_CONDITION: Final = "TopologyReconciled"
BOOTSTRAP_READY_CONDITION: Final = "BootstrapReady"
"""Machine, v1beta1 only: mirror of the bootstrap config's Ready condition."""
BOOTSTRAP_CONFIG_READY_CONDITION: Final = "BootstrapConfigReady"
"""Machine, v1beta2 only: mirror of the bootstrap config's Ready condition."""
DATA_SECRET_AVAILABLE_CONDITION: Final = "DataSecretAvailable"
"""Set on bootstrap configs (CABPK convention): the bootstrap data secret exists."""
MACHINES_READY_CONDITION: Final = "MachinesReady"
MACHINES_UP_TO_DATE_CONDITION: Final = "MachinesUpToDate"
MACHINES_CREATED_CONDITION: Final = "MachinesCreated"
MACHINE_SET_READY_CONDITION: Final = "MachineSetReady"
RESIZED_CONDITION: Final = "Resized"
ROLLING_OUT_CONDITION: Final = "RollingOut"
SCALING_UP_CONDITION: Final = "ScalingUp"
SCALING_DOWN_CONDITION: Final = "ScalingDown"
REMEDIATING_CONDITION: Final = "Remediating"
DELETING_CONDITION: Final = "Deleting"
PAUSED_CONDITION: Final = "Paused"
"""v1beta2: True with reason `Paused` while the Cluster or the object is paused, else False with `NotPaused`."""
UP_TO_DATE_CONDITION: Final = "UpToDate"
UPDATING_CONDITION: Final = "Updating"
NODE_READY_CONDITION: Final = "NodeReady"
NODE_HEALTHY_CONDITION: Final = "NodeHealthy"
DRAINING_SUCCEEDED_CONDITION: Final = "DrainingSucceeded"
HEALTH_CHECK_SUCCEEDED_CONDITION: Final = "HealthCheckSucceeded"
OWNER_REMEDIATED_CONDITION: Final = "OwnerRemediated"
EXTERNALLY_REMEDIATED_CONDITION: Final = "ExternallyRemediated"
REMEDIATION_ALLOWED_CONDITION: Final = "RemediationAllowed"

# --- condition reasons -------------------------------------------------------------------------------------------

PAUSED_REASON: Final = "Paused"
NOT_PAUSED_REASON: Final = "NotPaused"
READY_REASON: Final = "Ready"
NOT_READY_REASON: Final = "NotReady"
READY_UNKNOWN_REASON: Final = "ReadyUnknown"
AVAILABLE_REASON: Final = "Available"
NOT_AVAILABLE_REASON: Final = "NotAvailable"
AVAILABLE_UNKNOWN_REASON: Final = "AvailableUnknown"
UP_TO_DATE_REASON: Final = "UpToDate"
NOT_UP_TO_DATE_REASON: Final = "NotUpToDate"
DELETING_REASON: Final = "Deleting"
NOT_DELETING_REASON: Final = "NotDeleting"
DELETION_COMPLETED_REASON: Final = "DeletionCompleted"
DELETION_FAILED_REASON: Final = "DeletionFailed"
DELETED_REASON: Final = "Deleted"
INTERNAL_ERROR_REASON: Final = "InternalError"
NO_REASON_REPORTED_REASON: Final = "NoReasonReported"
INVALID_CONDITION_REPORTED_REASON: Final = "InvalidConditionReported"
OBJECT_DOES_NOT_EXIST_REASON: Final = "ObjectDoesNotExist"
OBJECT_DELETED_REASON: Final = "ObjectDeleted"
INCORRECT_EXTERNAL_REF_REASON: Final = "IncorrectExternalRef"
PROVISIONED_REASON: Final = "Provisioned"
NOT_PROVISIONED_REASON: Final = "NotProvisioned"
WAITING_FOR_CLUSTER_INFRASTRUCTURE_READY_REASON: Final = "WaitingForClusterInfrastructureReady"
WAITING_FOR_CONTROL_PLANE_INITIALIZED_REASON: Final = "WaitingForControlPlaneInitialized"
WAITING_FOR_BOOTSTRAP_DATA_REASON: Final = "WaitingForBootstrapData"
WAITING_FOR_INFRASTRUCTURE_FALLBACK_REASON: Final = "WaitingForInfrastructure"
WAITING_FOR_CONTROL_PLANE_FALLBACK_REASON: Final = "WaitingForControlPlane"
WAITING_FOR_CONTROL_PLANE_AVAILABLE_REASON: Final = "WaitingForControlPlaneAvailable"
WAITING_FOR_DATA_SECRET_FALLBACK_REASON: Final = "WaitingForDataSecret"

# --- phases ------------------------------------------------------------------------------------------------------

CLUSTER_PHASES: Final = ("Pending", "Provisioning", "Provisioned", "Deleting", "Failed", "Unknown")
MACHINE_PHASES: Final = (
    "Pending", "Provisioning", "Provisioned", "Running", "Updating", "Deleting", "Deleted", "Failed", "Unknown",
)
MACHINE_DEPLOYMENT_PHASES: Final = ("ScalingUp", "ScalingDown", "Running", "Failed", "Unknown")


# --- shared pieces -----------------------------------------------------------------------------------------------

def _capi_schema(schema: dict[str, Any]) -> None:
    """The schema of every model here keeps unknown fields, and declares no defaults: CAPI's CRDs have none for
    these fields, so an API server using a CRD generated from them must not add any. The Python defaults
    (`paused: bool = False`, ...) are only what a reader sees for an absent field."""
    schema["x-kubernetes-preserve-unknown-fields"] = True
    for field_schema in schema.get("properties", {}).values():
        field_schema.pop("default", None)


_KEEP_UNKNOWN: Final = ConfigDict(extra="allow", json_schema_extra=_capi_schema)
"""Every model in this module: unknown fields parse, are kept and dumped back, and the schema says so."""

Duration = str
"""A Go duration as metav1.Duration writes it (`10m0s`, `1h`)."""
Timestamp = str
"""An RFC 3339 time as metav1.Time writes it."""


class LabelSelectorRequirement(KubeModel):
    """A label selector requirement: a key, an operator and values."""

    model_config = _KEEP_UNKNOWN

    key: str
    """The label key that the selector applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """The key's relationship to the values."""
    values: list[str] | None = None
    """The values: non-empty for In and NotIn, empty for Exists and DoesNotExist."""


class LabelSelector(KubeModel):
    """A label query over a set of objects (metav1.LabelSelector); the requirements are ANDed."""

    model_config = _KEEP_UNKNOWN

    match_labels: dict[str, str] | None = None
    """Each {key, value} pair is an In requirement with that single value."""
    match_expressions: list[LabelSelectorRequirement] | None = None
    """A list of label selector requirements."""


class ConditionGate(KubeModel):
    """A condition that must hold too (Machine readiness gates, Cluster availability gates)."""

    model_config = _KEEP_UNKNOWN

    condition_type: str = Field(min_length=1, max_length=316)
    """A condition type in the object's condition list; a missing condition counts as Unknown."""
    polarity: Literal["Positive", "Negative"] | None = None
    """Positive (the default): the condition should be True. Negative: it should be False."""


ConditionGates = Annotated[
    list[ConditionGate],
    Field(max_length=32, json_schema_extra={"x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["conditionType"]}),
]


class CAPIV1Beta2Status(V1Beta2Status):
    """The `status.v1beta2` block: conditions in metav1.Condition form, and other fields of the v1beta2 API."""

    model_config = _KEEP_UNKNOWN


class ReplicaCounts(KubeModel):
    """The v1beta2 replica counters of a Cluster's control plane or workers."""

    model_config = _KEEP_UNKNOWN

    desired_replicas: Int32 | None = None
    """Total number of desired machines."""
    replicas: Int32 | None = None
    """Total number of machines, including the ones still being provisioned or being deleted."""
    up_to_date_replicas: Int32 | None = None
    """Number of machines whose UpToDate condition is True."""
    ready_replicas: Int32 | None = None
    """Number of machines whose Ready condition is True."""
    available_replicas: Int32 | None = None
    """Number of machines whose Available condition is True."""


# --- Cluster -----------------------------------------------------------------------------------------------------


class NetworkRanges(KubeModel):
    """Ranges of network addresses."""

    model_config = _KEEP_UNKNOWN

    cidr_blocks: list[str]
    """A list of CIDR blocks."""


class ClusterNetwork(KubeModel):
    """The networking parameters of a cluster."""

    model_config = _KEEP_UNKNOWN

    api_server_port: Int32 | None = None
    """The port the API server should bind to. Defaults to 6443."""
    services: NetworkRanges | None = None
    """The network ranges from which service VIPs are allocated."""
    pods: NetworkRanges | None = None
    """The network ranges from which Pod networks are allocated."""
    service_domain: str | None = None
    """Domain name for services."""


class ClusterSpec(KubeModel):
    """The desired state of a Cluster."""

    model_config = _KEEP_UNKNOWN

    paused: bool = False
    """Prevents controllers from processing the Cluster and all its associated objects."""
    cluster_network: ClusterNetwork | None = None
    """Cluster network configuration."""
    control_plane_endpoint: APIEndpoint = Field(default_factory=APIEndpoint)
    """The endpoint used to communicate with the control plane; empty host and port 0 until known."""
    control_plane_ref: ObjectReference | None = None
    """The provider-specific control plane object (K0sControlPlane, K0smotronControlPlane, ...)."""
    infrastructure_ref: ObjectReference | None = None
    """The provider-specific infrastructure cluster object (RemoteCluster, ...)."""
    topology: FreeForm | None = None
    """The managed topology of a cluster built from a ClusterClass (not modelled further)."""
    availability_gates: ConditionGates | None = None
    """Additional conditions to include when evaluating the Cluster's Available condition (v1beta2 conditions)."""


class FailureDomainSpec(KubeModel):
    """A failure domain a cluster can span."""

    model_config = _KEEP_UNKNOWN

    control_plane: bool = False
    """Whether this failure domain is suitable for control plane machines."""
    attributes: dict[str, str] | None = None
    """Free-form attributes an infrastructure provider might use or require."""


class ClusterInitializationStatus(KubeModel):
    """The provisioning milestones of a Cluster as the v1beta2 API reports them (never unset once True).

    A `cluster.x-k8s.io/v1beta1` object reports them as `status.infrastructureReady` and
    `status.controlPlaneReady` instead. Modelled so both shapes read alike.
    """

    model_config = _KEEP_UNKNOWN

    infrastructure_provisioned: bool | None = None
    """The infrastructure cluster object reports it is provisioned."""
    control_plane_initialized: bool | None = None
    """The control plane reports it is initialized (its API server accepts requests)."""


class ClusterV1Beta2Status(CAPIV1Beta2Status):
    """The Cluster's `status.v1beta2` block."""

    model_config = _KEEP_UNKNOWN

    control_plane: ReplicaCounts | None = None
    """Observations about the control plane's machines."""
    workers: ReplicaCounts | None = None
    """Observations about the worker machines."""


class ClusterStatus(KubeModel):
    """The observed state of a Cluster."""

    model_config = _KEEP_UNKNOWN

    failure_domains: dict[str, FailureDomainSpec] | None = None
    """Failure domains synced from the infrastructure provider, by name."""
    failure_reason: str | None = None
    """Deprecated: a fatal problem reconciling the Cluster, as a token."""
    failure_message: str | None = None
    """Deprecated: a fatal problem reconciling the Cluster, as a message."""
    phase: str | None = None
    """Pending, Provisioning, Provisioned, Deleting, Failed or Unknown."""
    infrastructure_ready: bool = False
    """The infrastructure is provisioned (v1beta1 API)."""
    control_plane_ready: bool = False
    """The control plane became ready to receive requests during initial provisioning (v1beta1 API); never unset."""
    conditions: list[Condition] | None = None
    """v1beta1 conditions: Ready, InfrastructureReady, ControlPlaneInitialized, ControlPlaneReady, ..."""
    observed_generation: Int64 | None = None
    """The latest generation observed by the controller."""
    initialization: ClusterInitializationStatus | None = None
    """Provisioning milestones (v1beta2 API; absent on v1beta1 objects)."""
    v1beta2: ClusterV1Beta2Status | None = Field(default=None, alias="v1beta2")
    """Fields of the v1beta2 API, notably the new-style conditions."""


class Cluster(Resource):
    """A workload cluster as Cluster API describes it."""

    model_config = _KEEP_UNKNOWN
    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="Cluster",
        plural="clusters",
        provider=PROVIDER,
        short_names=("cl",),
        status_subresource=True,
        printer_columns=(
            PrinterColumn("ClusterClass", ".spec.topology.class",
                          description="ClusterClass of this Cluster, empty if the Cluster is not using a ClusterClass"),
            PrinterColumn("Phase", ".status.phase",
                          description="Cluster status such as Pending/Provisioning/Provisioned/Deleting/Failed"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                          description="Time duration since creation of Cluster"),
            PrinterColumn("Version", ".spec.topology.version",
                          description="Kubernetes version associated with this Cluster"),
        ),
    )

    spec: ClusterSpec = Field(default_factory=ClusterSpec)
    status: ClusterStatus = Field(default_factory=ClusterStatus)


# --- Machine -----------------------------------------------------------------------------------------------------


class Bootstrap(KubeModel):
    """How a Machine is bootstrapped: a bootstrap config object, or a data secret named directly."""

    model_config = _KEEP_UNKNOWN

    config_ref: ObjectReference | None = None
    """The bootstrap provider's config object (K0sWorkerConfig, K0sControllerConfig, ...)."""
    data_secret_name: str | None = Field(default=None, max_length=253)
    """The secret holding the bootstrap data; while unset the Machine stays Pending."""


class MachineSpec(KubeModel):
    """The desired state of a Machine."""

    model_config = _KEEP_UNKNOWN

    cluster_name: str = Field(min_length=1, max_length=63)
    """The name of the Cluster this Machine belongs to."""
    bootstrap: Bootstrap
    """How the Machine is bootstrapped."""
    infrastructure_ref: ObjectReference
    """The infrastructure provider's machine object (RemoteMachine, ...)."""
    version: str | None = None
    """The desired Kubernetes version, for bootstrap providers."""
    provider_id: str | None = Field(default=None, alias="providerID")
    """The provider's ID of the machine; must match the Node's spec.providerID."""
    failure_domain: str | None = None
    """The failure domain the Machine is created in: a key of the Cluster's status.failureDomains."""
    readiness_gates: ConditionGates | None = None
    """Additional conditions to include when evaluating the Machine's Ready condition (v1beta2 conditions)."""
    node_drain_timeout: Duration | None = None
    """How long draining the Node may take; 0 means no limit."""
    node_volume_detach_timeout: Duration | None = None
    """How long waiting for volumes to detach may take; 0 means no limit."""
    node_deletion_timeout: Duration | None = None
    """How long deleting the Node is retried once the Machine is deleted; 0 means forever."""


class MachineAddress(KubeModel):
    """An address of a machine."""

    model_config = _KEEP_UNKNOWN

    type: Literal["Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"]
    """The address type."""
    address: str
    """The address."""


class MachineDeletionStatus(KubeModel):
    """Where the deletion of a Machine is."""

    model_config = _KEEP_UNKNOWN

    node_drain_start_time: Timestamp | None = None
    """When draining the Node started."""
    wait_for_node_volume_detach_start_time: Timestamp | None = None
    """When waiting for the Node's volumes to detach started."""


class MachineStatus(KubeModel):
    """The observed state of a Machine."""

    model_config = _KEEP_UNKNOWN

    node_ref: ObjectReference | None = None
    """The Node of this Machine, once it exists."""
    node_info: FreeForm | None = None
    """The Node's system info (machineID, kubeletVersion, architecture, ...)."""
    last_updated: Timestamp | None = None
    """When the phase last changed."""
    failure_reason: str | None = None
    """Deprecated: a terminal problem reconciling the Machine, as a token."""
    failure_message: str | None = None
    """Deprecated: a terminal problem reconciling the Machine, as a message."""
    addresses: list[MachineAddress] | None = None
    """The machine's addresses, copied from the infrastructure machine."""
    phase: str | None = None
    """Pending, Provisioning, Provisioned, Running, Deleting, Deleted, Failed or Unknown."""
    certificates_expiry_date: Timestamp | None = None
    """When the machine's certificates expire (control plane machines only)."""
    bootstrap_ready: bool = False
    """The bootstrap data secret exists (v1beta1 API)."""
    infrastructure_ready: bool = False
    """The infrastructure machine is provisioned (v1beta1 API)."""
    observed_generation: Int64 | None = None
    """The latest generation observed by the controller."""
    conditions: list[Condition] | None = None
    """v1beta1 conditions: Ready, BootstrapReady, InfrastructureReady, NodeHealthy, ..."""
    deletion: MachineDeletionStatus | None = None
    """Deletion progress, once the Machine is being deleted."""
    v1beta2: CAPIV1Beta2Status | None = Field(default=None, alias="v1beta2")
    """Fields of the v1beta2 API, notably the new-style conditions."""


class Machine(Resource):
    """A machine that runs (or will run) a Kubernetes node."""

    model_config = _KEEP_UNKNOWN
    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="Machine",
        plural="machines",
        provider=PROVIDER,
        short_names=("ma",),
        status_subresource=True,
        printer_columns=(
            PrinterColumn("Cluster", ".spec.clusterName", description="Cluster"),
            PrinterColumn("NodeName", ".status.nodeRef.name", description="Node name associated with this machine"),
            PrinterColumn("ProviderID", ".spec.providerID", description="Provider ID"),
            PrinterColumn("Phase", ".status.phase",
                          description="Machine status such as Terminating/Pending/Running/Failed etc"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                          description="Time duration since creation of Machine"),
            PrinterColumn("Version", ".spec.version", description="Kubernetes version associated with this Machine"),
        ),
    )

    spec: MachineSpec
    status: MachineStatus = Field(default_factory=MachineStatus)


# --- MachineSet --------------------------------------------------------------------------------------------------


class MachineTemplateSpec(KubeModel):
    """What a Machine created from a MachineSet or MachineDeployment looks like."""

    model_config = _KEEP_UNKNOWN

    metadata: TemplateMeta | None = None
    """Labels and annotations of the Machines."""
    spec: MachineSpec
    """The spec of the Machines; the refs point at templates that are cloned per Machine."""


class MachineNamingStrategy(KubeModel):
    """How Machines created by a MachineSet are named."""

    model_config = _KEEP_UNKNOWN

    template: str | None = Field(default=None, min_length=1, max_length=256)
    """Name template with `.cluster.name`, `.machineSet.name` and (required) `.random`."""


class MachineSetSpec(KubeModel):
    """The desired state of a MachineSet."""

    model_config = _KEEP_UNKNOWN

    cluster_name: str = Field(min_length=1, max_length=63)
    """The name of the Cluster this MachineSet belongs to."""
    replicas: Int32 | None = None
    """The number of desired Machines."""
    min_ready_seconds: Int32 | None = None
    """How long a new Machine's Node must be ready before the Machine counts as available."""
    delete_policy: Literal["Random", "Newest", "Oldest"] | None = None
    """Which Machines go first on scale-down. Defaults to Random."""
    selector: LabelSelector
    """The Machines this MachineSet counts; must match the template's labels."""
    template: MachineTemplateSpec | None = None
    """What new Machines look like."""
    machine_naming_strategy: MachineNamingStrategy | None = None
    """How new Machines are named."""


class MachineSetV1Beta2Status(CAPIV1Beta2Status):
    """The `status.v1beta2` block of a MachineSet."""

    model_config = _KEEP_UNKNOWN

    ready_replicas: Int32 | None = None
    """Number of Machines whose Ready condition is True."""
    available_replicas: Int32 | None = None
    """Number of Machines whose Available condition is True."""
    up_to_date_replicas: Int32 | None = None
    """Number of Machines whose UpToDate condition is True."""


class MachineSetStatus(KubeModel):
    """The observed state of a MachineSet."""

    model_config = _KEEP_UNKNOWN

    selector: str | None = None
    """The label selector in query-parameter form (the scale subresource's selector)."""
    replicas: Int32 = 0
    """The most recently observed number of Machines."""
    fully_labeled_replicas: Int32 = 0
    """Deprecated: the number of Machines whose labels match the template's."""
    ready_replicas: Int32 = 0
    """The number of ready Machines."""
    available_replicas: Int32 = 0
    """The number of Machines ready for at least minReadySeconds."""
    observed_generation: Int64 | None = None
    """The latest generation observed by the controller."""
    failure_reason: str | None = None
    """Deprecated: a terminal problem reconciling the MachineSet, as a token."""
    failure_message: str | None = None
    """Deprecated: a terminal problem reconciling the MachineSet, as a message."""
    conditions: list[Condition] | None = None
    """v1beta1 conditions: Ready, MachinesCreated, MachinesReady, Resized, ..."""
    v1beta2: MachineSetV1Beta2Status | None = Field(default=None, alias="v1beta2")
    """Fields of the v1beta2 API, notably the new-style conditions."""


class MachineSet(Resource):
    """A set of Machines kept at a number of replicas."""

    model_config = _KEEP_UNKNOWN
    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="MachineSet",
        plural="machinesets",
        provider=PROVIDER,
        short_names=("ms",),
        status_subresource=True,
        scale_subresource=True,
        printer_columns=(
            PrinterColumn("Cluster", ".spec.clusterName", description="Cluster"),
            PrinterColumn("Desired", ".spec.replicas", "integer",
                          description="Total number of machines desired by this machineset", priority=10),
            PrinterColumn("Replicas", ".status.replicas", "integer",
                          description="Total number of non-terminated machines targeted by this machineset"),
            PrinterColumn("Ready", ".status.readyReplicas", "integer",
                          description="Total number of ready machines targeted by this machineset."),
            PrinterColumn("Available", ".status.availableReplicas", "integer",
                          description="Total number of available machines (ready for at least minReadySeconds)"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                          description="Time duration since creation of MachineSet"),
            PrinterColumn("Version", ".spec.template.spec.version",
                          description="Kubernetes version associated with this MachineSet"),
        ),
    )

    spec: MachineSetSpec
    status: MachineSetStatus = Field(default_factory=MachineSetStatus)


# --- MachineDeployment -------------------------------------------------------------------------------------------


class MachineRollingUpdateDeployment(KubeModel):
    """How a rolling update proceeds."""

    model_config = _KEEP_UNKNOWN

    max_unavailable: IntOrString | None = None
    """How many Machines may be unavailable during the update: a number or a percentage. Defaults to 0."""
    max_surge: IntOrString | None = None
    """How many Machines may exist above the desired number: a number or a percentage. Defaults to 1."""
    delete_policy: Literal["Random", "Newest", "Oldest"] | None = None
    """Which Machines go first on scale-down; the MachineSet's default when unset."""


class RemediationStrategy(KubeModel):
    """How the MachineSets of a MachineDeployment remediate unhealthy Machines."""

    model_config = _KEEP_UNKNOWN

    max_in_flight: IntOrString | None = None
    """How many remediations may run at once: a number or a percentage of the desired replicas."""


class MachineDeploymentStrategy(KubeModel):
    """How existing Machines are replaced with new ones."""

    model_config = _KEEP_UNKNOWN

    type: Literal["RollingUpdate", "OnDelete"] | None = None
    """RollingUpdate (the default) or OnDelete."""
    rolling_update: MachineRollingUpdateDeployment | None = None
    """Rolling update parameters, for type RollingUpdate."""
    remediation: RemediationStrategy | None = None
    """How unhealthy Machines are remediated."""


class MachineDeploymentSpec(KubeModel):
    """The desired state of a MachineDeployment."""

    model_config = _KEEP_UNKNOWN

    cluster_name: str = Field(min_length=1, max_length=63)
    """The name of the Cluster this MachineDeployment belongs to."""
    replicas: Int32 | None = None
    """The number of desired Machines."""
    rollout_after: Timestamp | None = None
    """Roll all Machines out after this time even without changes."""
    selector: LabelSelector
    """The Machines (through their MachineSets) this MachineDeployment manages; must match the template's labels."""
    template: MachineTemplateSpec
    """What new Machines look like."""
    strategy: MachineDeploymentStrategy | None = None
    """How existing Machines are replaced with new ones."""
    machine_naming_strategy: MachineNamingStrategy | None = None
    """How new Machines are named."""
    min_ready_seconds: Int32 | None = None
    """How long a new Machine's Node must be ready before the Machine counts as available."""
    revision_history_limit: Int32 | None = None
    """Deprecated: how many old MachineSets to keep."""
    paused: bool = False
    """Stops rollouts (scaling still happens)."""
    progress_deadline_seconds: Int32 | None = None
    """Deprecated: how long a rollout may take before it is reported as failed."""


class MachineDeploymentV1Beta2Status(MachineSetV1Beta2Status):
    """The `status.v1beta2` block of a MachineDeployment."""

    model_config = _KEEP_UNKNOWN


class MachineDeploymentStatus(KubeModel):
    """The observed state of a MachineDeployment."""

    model_config = _KEEP_UNKNOWN

    observed_generation: Int64 | None = None
    """The latest generation observed by the controller."""
    selector: str | None = None
    """The label selector in query-parameter form (the scale subresource's selector)."""
    replicas: Int32 = 0
    """The number of non-terminated Machines targeted by this MachineDeployment."""
    updated_replicas: Int32 = 0
    """The number of non-terminated Machines that have the desired template spec."""
    ready_replicas: Int32 = 0
    """The number of ready Machines."""
    available_replicas: Int32 = 0
    """The number of Machines ready for at least minReadySeconds."""
    unavailable_replicas: Int32 = 0
    """Deprecated: the number of Machines still needed for full available capacity."""
    phase: str | None = None
    """ScalingUp, ScalingDown, Running, Failed or Unknown."""
    conditions: list[Condition] | None = None
    """v1beta1 conditions: Ready, Available, MachineSetReady, ..."""
    v1beta2: MachineDeploymentV1Beta2Status | None = Field(default=None, alias="v1beta2")
    """Fields of the v1beta2 API, notably the new-style conditions."""


class MachineDeployment(Resource):
    """Declarative updates for Machines, through MachineSets."""

    model_config = _KEEP_UNKNOWN
    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="MachineDeployment",
        plural="machinedeployments",
        provider=PROVIDER,
        short_names=("md",),
        status_subresource=True,
        scale_subresource=True,
        printer_columns=(
            PrinterColumn("Cluster", ".spec.clusterName", description="Cluster"),
            PrinterColumn("Desired", ".spec.replicas", "integer",
                          description="Total number of machines desired by this MachineDeployment", priority=10),
            PrinterColumn("Replicas", ".status.replicas", "integer",
                          description="Total number of non-terminated machines targeted by this MachineDeployment"),
            PrinterColumn("Ready", ".status.readyReplicas", "integer",
                          description="Total number of ready machines targeted by this MachineDeployment"),
            PrinterColumn("Updated", ".status.updatedReplicas", "integer",
                          description="Total number of non-terminated machines targeted by this deployment that "
                          "have the desired template spec"),
            PrinterColumn("Unavailable", ".status.unavailableReplicas", "integer",
                          description="Total number of unavailable machines targeted by this MachineDeployment"),
            PrinterColumn("Phase", ".status.phase",
                          description="MachineDeployment status such as ScalingUp/ScalingDown/Running/Failed/Unknown"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                          description="Time duration since creation of MachineDeployment"),
            PrinterColumn("Version", ".spec.template.spec.version",
                          description="Kubernetes version associated with this MachineDeployment"),
        ),
    )

    spec: MachineDeploymentSpec
    status: MachineDeploymentStatus = Field(default_factory=MachineDeploymentStatus)


# --- MachineHealthCheck ------------------------------------------------------------------------------------------


class UnhealthyCondition(KubeModel):
    """A Node condition that, held for at least the timeout, makes the Node unhealthy."""

    model_config = _KEEP_UNKNOWN

    type: str = Field(min_length=1)
    """The Node condition type."""
    status: str = Field(min_length=1)
    """The condition status: True, False or Unknown."""
    timeout: Duration
    """How long the Node must be in that status (e.g. `5m0s`)."""


class MachineHealthCheckSpec(KubeModel):
    """The desired state of a MachineHealthCheck."""

    model_config = _KEEP_UNKNOWN

    cluster_name: str = Field(min_length=1, max_length=63)
    """The name of the Cluster this MachineHealthCheck belongs to."""
    selector: LabelSelector
    """The Machines whose health is checked."""
    unhealthy_conditions: list[UnhealthyCondition] | None = Field(default=None, max_length=100)
    """Node conditions that make a Node unhealthy (ORed)."""
    max_unhealthy: IntOrString | None = None
    """Deprecated: remediate only while at most this many (or this percentage of) Machines are unhealthy."""
    unhealthy_range: str | None = Field(default=None, pattern=r"^\[[0-9]+-[0-9]+\]$")
    """Deprecated: remediate only while the number of unhealthy Machines is in this range (`[3-5]`)."""
    node_startup_timeout: Duration | None = None
    """How long a Machine may go without a Node before it is unhealthy; 0 disables. Defaults to 10 minutes."""
    remediation_template: ObjectReference | None = None
    """A remediation template of an external remediation provider."""


class MachineHealthCheckStatus(KubeModel):
    """The observed state of a MachineHealthCheck."""

    model_config = _KEEP_UNKNOWN

    expected_machines: NonNegativeInt32 = 0
    """The number of Machines this check counts."""
    current_healthy: NonNegativeInt32 = 0
    """The number of healthy Machines."""
    remediations_allowed: NonNegativeInt32 = 0
    """How many more remediations are allowed before remediation is short-circuited."""
    observed_generation: Int64 | None = None
    """The latest generation observed by the controller."""
    targets: list[str] | None = None
    """The names of the Machines this check watches."""
    conditions: list[Condition] | None = None
    """v1beta1 conditions: RemediationAllowed, ..."""
    v1beta2: CAPIV1Beta2Status | None = Field(default=None, alias="v1beta2")
    """Fields of the v1beta2 API, notably the new-style conditions."""


class MachineHealthCheck(Resource):
    """Health checking and remediation of a set of Machines."""

    model_config = _KEEP_UNKNOWN
    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="MachineHealthCheck",
        plural="machinehealthchecks",
        provider=PROVIDER,
        short_names=("mhc", "mhcs"),
        status_subresource=True,
        printer_columns=(
            PrinterColumn("Cluster", ".spec.clusterName", description="Cluster"),
            PrinterColumn("ExpectedMachines", ".status.expectedMachines", "integer",
                          description="Number of machines currently monitored"),
            PrinterColumn("MaxUnhealthy", ".spec.maxUnhealthy",
                          description="Maximum number of unhealthy machines allowed"),
            PrinterColumn("CurrentHealthy", ".status.currentHealthy", "integer",
                          description="Current observed healthy machines"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                          description="Time duration since creation of MachineHealthCheck"),
        ),
    )

    spec: MachineHealthCheckSpec
    status: MachineHealthCheckStatus = Field(default_factory=MachineHealthCheckStatus)


# --- helpers -----------------------------------------------------------------------------------------------------

AnyCondition = TypeVar("AnyCondition", Condition, MetaCondition)


def get_condition(conditions: Sequence[AnyCondition] | None, condition_type: str) -> AnyCondition | None:
    """The condition of that type in a v1beta1 or v1beta2 condition list, or None."""
    return next((c for c in conditions or () if c.type == condition_type), None)


def is_paused(cluster: Cluster, obj_meta: ObjectMeta) -> bool:
    """Whether reconciling an object of this Cluster must stop: the Cluster's `spec.paused` is true, or the object
    carries the `cluster.x-k8s.io/paused` annotation (any value).

    As in CAPI's `util/annotations.IsPaused`, a paused annotation on the Cluster pauses only the Cluster itself:
    pass the Cluster's metadata as `obj_meta` to check that.
    """
    return cluster.spec.paused or PAUSED_ANNOTATION in (obj_meta.annotations or {})


def is_infrastructure_provisioned(cluster: Cluster) -> bool:
    """`status.infrastructureReady` (v1beta1) or `status.initialization.infrastructureProvisioned` (v1beta2)."""
    init = cluster.status.initialization
    return cluster.status.infrastructure_ready or bool(init and init.infrastructure_provisioned)


def is_control_plane_initialized(cluster: Cluster) -> bool:
    """Whether the Cluster's control plane accepts requests.

    The condition `ControlPlaneInitialized` is checked first, in `status.conditions` and in
    `status.v1beta2.conditions`; a missing condition counts as not initialized. The condition is preferred
    because it is the only signal set for clusters without a controlPlaneRef. Failing that,
    `status.initialization.controlPlaneInitialized` (v1beta2) is used. `status.controlPlaneReady` is ignored
    because up to CAPI 1.10 it copied the control plane's `ready` flag, not its `initialized` one.
    """
    v1beta1 = get_condition(cluster.status.conditions, CONTROL_PLANE_INITIALIZED_CONDITION)
    v1beta2_block = cluster.status.v1beta2
    v1beta2 = get_condition(v1beta2_block.conditions if v1beta2_block else None, CONTROL_PLANE_INITIALIZED_CONDITION)
    if (v1beta1 and v1beta1.status == "True") or (v1beta2 and v1beta2.status == "True"):
        return True
    init = cluster.status.initialization
    return bool(init and init.control_plane_initialized)
