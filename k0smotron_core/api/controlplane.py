"""The control plane provider's kinds (`controlplane.cluster.x-k8s.io/v1beta1`): K0sControlPlane (control plane on
CAPI Machines), K0smotronControlPlane (control plane hosted as pods, spec = the k0smotron.io Cluster's ClusterSpec)
and their Template kinds.

Field names, wire names, defaults, enums, printer columns and descriptions mirror upstream k0smotron's
`api/controlplane/v1beta1`. Status follows the Cluster API v1beta1 control plane contract, plus `initialization`
and the stage-1 `v1beta2.conditions` block. Quirk fixed: upstream's Template CRDs lack the clusterctl provider label;
ours carry it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ._base import (
    Condition,
    CRDInfo,
    Int32,
    KubeModel,
    NonNegativeInt32,
    ObjectReference,
    PrinterColumn,
    Resource,
    SecretMetadata,
    TemplateMeta,
    V1Beta2Status,
)
from .bootstrap import K0sConfigSpec
from .k0smotron import ClusterSpec

GROUP = "controlplane.cluster.x-k8s.io"
PROVIDER = "control-plane-k0smotron"

UpdateStrategy = Literal["InPlace", "Recreate", "RecreateDeleteFirst"]
"""InPlace updates the nodes in place using k0s autopilot (default); Recreate replaces them one by one starting by
creating a spare node; RecreateDeleteFirst replaces them one by one starting by deleting an existing node."""

K0S_CONTROL_PLANE_FINALIZER = "k0s.controlplane.cluster.x-k8s.io"
K0SMOTRON_CONTROL_PLANE_FINALIZER = "k0smotron.controlplane.cluster.x-k8s.io"
REMEDIATION_IN_PROGRESS_ANNOTATION = "controlplane.cluster.x-k8s.io/remediation-in-progress"
MACHINE_K0S_CONFIG_ANNOTATION = "k0s.controlplane.cluster.x-k8s.io/k0s-config"

Duration = str
"""A Go duration string (metav1.Duration), e.g. "10m" or "1h30m"."""

_STATUS_DEFAULT: dict[str, Any] = {
    "version": "",
    "ready": False,
    "initialized": False,
    "initialization": {"controlPlaneInitialized": False},
}
"""Upstream's CRD default for `status` (so the contract fields are present from the start)."""


def _printer_columns(kind: str) -> tuple[PrinterColumn, ...]:
    """The v1beta1 printer columns upstream declares on both control plane kinds (descriptions verbatim)."""
    return (
        PrinterColumn("Cluster", ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']", "string", "Cluster"),
        PrinterColumn("API Server Available", ".status.ready", "boolean",
                      "This denotes that the target API Server is ready to receive requests"),
        PrinterColumn("Desired", ".spec.replicas", "integer", "Total number of machines desired by this control plane",
                      priority=10),
        PrinterColumn("Replicas", ".status.replicas", "integer",
                      "Total number of non-terminated machines targeted by this control plane"),
        PrinterColumn("Ready", ".status.readyReplicas", "integer",
                      "Total number of fully running and ready control plane instances"),
        PrinterColumn("Updated", ".status.updatedReplicas", "integer",
                      "Total number of non-terminated machines targeted by this control plane that have the desired "
                      "template spec"),
        PrinterColumn("Unavailable", ".status.unavailableReplicas", "integer",
                      "Total number of unavailable control plane instances targeted by this control plane"),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date", f"Time duration since creation of {kind}"),
        PrinterColumn("Version", ".spec.version", "string", "Kubernetes version associated with this control plane"),
    )


# --- status (shared by both control plane kinds) -----------------------------------------------------------------


class ControlPlaneInitialization(KubeModel):
    """Initialization represents the initialization status of the control plane."""

    control_plane_initialized: bool | None = None
    """controlPlaneInitialized indicates whether the control plane is initialized"""


class ControlPlaneStatus(KubeModel):
    """The observed state of a control plane, per the Cluster API v1beta1 control plane contract."""

    ready: bool | None = None
    """Ready denotes that the control plane is ready"""
    initialized: bool | None = None
    """initialized denotes that the control plane API Server is initialized and thus
    it can accept requests.
    NOTE: this field is part of the Cluster API contract and it is used to orchestrate provisioning.
    The value of this field is never updated after provisioning is completed. Please use conditions
    to check the operational state of the control plane."""
    initialization: ControlPlaneInitialization | None = None
    """initialization represents the initialization status of the control plane"""
    external_managed_control_plane: bool | None = None
    """externalManagedControlPlane is a bool that should be set to true if the Node objects do not exist in the
    cluster."""
    replicas: Int32 | None = None
    """replicas is the total number of non-terminated machines targeted by this control plane
    (their labels match the selector)."""
    ready_replicas: Int32 | None = None
    """readyReplicas is the total number of fully running and ready control plane machines."""
    updated_replicas: Int32 | None = None
    """updatedReplicas is the total number of non-terminated machines targeted by this control plane
    that have the desired template spec."""
    unavailable_replicas: Int32 | None = None
    """unavailableReplicas is the total number of unavailable machines targeted by this control plane.
    This is the total number of machines that are still required for
    the deployment to have 100% available capacity. They may either
    be machines that are running but not yet ready or machines
    that still have not been created."""
    version: str | None = None
    """version represents the minimum Kubernetes version for the control plane machines
    in the cluster."""
    selector: str | None = None
    """selector is the label selector in string format to avoid introspection
    by clients, and is used to provide the CRD-based integration for the
    scale subresource and additional integrations for things like kubectl
    describe.. The string will be in the same format as the query-param syntax.
    More info about label selectors: http://kubernetes.io/docs/user-guide/labels#label-selectors"""
    failure_reason: str | None = None
    """failureReason indicates that there is a terminal problem reconciling the
    state, and will be set to a token value suitable for
    programmatic interpretation."""
    failure_message: str | None = None
    """failureMessage indicates that there is a terminal problem reconciling the
    state, and will be set to a descriptive error message."""
    conditions: list[Condition] | None = None
    """Conditions defines current service state of the control plane."""
    v1beta2: V1Beta2Status | None = None
    """v1beta2 groups all the fields that will be added or modified in the control plane's status with the v1beta2
    version."""


class K0sControlPlaneStatus(ControlPlaneStatus):
    """K0sControlPlaneStatus defines the observed state of K0sControlPlane"""


class K0smotronControlPlaneStatus(ControlPlaneStatus):
    """K0smotronControlPlaneStatus defines the observed state of K0smotronControlPlane"""


# --- K0sControlPlane ---------------------------------------------------------------------------------------------


class K0sControlPlaneMachineTemplate(KubeModel):
    """K0sControlPlaneMachineTemplate describes the data needed to create a Machine from a template."""

    metadata: TemplateMeta | None = None
    """Standard object's metadata.
    More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"""
    infrastructure_ref: ObjectReference
    """InfrastructureRef is a required reference to a custom resource
    offered by an infrastructure provider."""
    node_drain_timeout: Duration | None = None
    """NodeDrainTimeout is the total amount of time that the controller will spend on draining a controlplane node
    The default value is 0, meaning that the node can be drained without any time limitations.
    NOTE: NodeDrainTimeout is different from `kubectl drain --timeout`"""
    node_volume_detach_timeout: Duration | None = None
    """NodeVolumeDetachTimeout is the total amount of time that the controller will spend on waiting for all volumes
    to be detached. The default value is 0, meaning that the volumes can be detached without any time limitations."""
    node_deletion_timeout: Duration | None = None
    """NodeDeletionTimeout defines how long the machine controller will attempt to delete the Node that the Machine
    hosts after the Machine is marked for deletion. A duration of 0 will retry deletion indefinitely.
    If no value is provided, the default value for this property of the Machine resource will be used."""


class K0sControlPlaneSpec(KubeModel):
    """K0sControlPlaneSpec defines the desired state of K0sControlPlane"""

    k0s_config_spec: K0sConfigSpec
    """K0sConfigSpec is the k0s controller configuration of the control plane Machines."""
    machine_template: K0sControlPlaneMachineTemplate
    """MachineTemplate contains information about how machines should be shaped when creating or updating a
    control plane."""
    replicas: NonNegativeInt32 = 1
    """Replicas is the number of desired control plane machines."""
    update_strategy: UpdateStrategy = "InPlace"
    """UpdateStrategy defines the strategy to use when updating the control plane."""
    version: str | None = None
    """Version defines the k0s version to be deployed. You can use a specific k0s version (e.g. v1.27.1+k0s.0) or
    just the Kubernetes version (e.g. v1.27.1). If left empty, k0smotron will select one automatically."""
    kubeconfig_secret_metadata: SecretMetadata | None = None
    """KubeconfigSecretMetadata specifies metadata (labels and annotations) to be propagated to the kubeconfig Secret
    created for the workload cluster.
    Note: This metadata will have precedence over default labels/annotations on the Secret."""


class K0sControlPlane(Resource):
    """K0sControlPlane describes a k0s control plane running on Cluster API Machines."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP, kind="K0sControlPlane", plural="k0scontrolplanes", provider=PROVIDER,
        status_subresource=True, scale_subresource=True, printer_columns=_printer_columns("K0sControlPlane"),
    )

    # Optional only because the API server accepts an object without a spec (upstream's `spec,omitempty`); once
    # given, k0sConfigSpec and machineTemplate are required. A control plane without a spec cannot be reconciled.
    spec: K0sControlPlaneSpec | None = None
    """Spec defines the desired state of the K0sControlPlane."""
    status: K0sControlPlaneStatus | None = Field(default=None, json_schema_extra={"default": _STATUS_DEFAULT})

    @property
    def worker_enabled(self) -> bool:
        """Whether the control plane nodes also run workloads (`--enable-worker` among the k0s args)."""
        return self.spec is not None and "--enable-worker" in (self.spec.k0s_config_spec.args or [])


# --- K0sControlPlaneTemplate -------------------------------------------------------------------------------------


class K0sControlPlaneTemplateMachineTemplate(KubeModel):
    """K0sControlPlaneTemplateMachineTemplate defines the template for Machines
    in a K0sControlPlaneMachineTemplate object.
    NOTE: K0sControlPlaneTemplateMachineTemplate is similar to K0sControlPlaneMachineTemplate but
    omits InfrastructureRef, which is calculated by the Cluster topology reconciler."""

    metadata: TemplateMeta | None = None
    """Standard object's metadata.
    More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"""
    node_drain_timeout: Duration | None = None
    """NodeDrainTimeout is the total amount of time that the controller will spend on draining a controlplane node
    The default value is 0, meaning that the node can be drained without any time limitations.
    NOTE: NodeDrainTimeout is different from `kubectl drain --timeout`"""
    node_volume_detach_timeout: Duration | None = None
    """NodeVolumeDetachTimeout is the total amount of time that the controller will spend on waiting for all volumes
    to be detached. The default value is 0, meaning that the volumes can be detached without any time limitations."""
    node_deletion_timeout: Duration | None = None
    """NodeDeletionTimeout defines how long the machine controller will attempt to delete the Node that the Machine
    hosts after the Machine is marked for deletion. A duration of 0 will retry deletion indefinitely.
    If no value is provided, the default value for this property of the Machine resource will be used."""


class K0sControlPlaneTemplateResourceSpec(KubeModel):
    """K0sControlPlaneTemplateResourceSpec defines the desired state of K0sControlPlaneTemplateResource."""

    k0s_config_spec: K0sConfigSpec
    """K0sConfigSpec is the k0s controller configuration of the control plane Machines."""
    machine_template: K0sControlPlaneTemplateMachineTemplate | None = None
    """MachineTemplate contains information about how machines should be shaped when creating or updating a
    control plane."""
    version: str | None = None
    """Version defines the k0s version to be deployed."""
    update_strategy: UpdateStrategy = "InPlace"
    """UpdateStrategy defines the strategy to use when updating the control plane."""


class K0sControlPlaneTemplateResource(KubeModel):
    """K0sControlPlaneTemplateResource describes the data needed to create a K0sControlPlane from a template."""

    metadata: TemplateMeta | None = None
    """Standard object's metadata, copied onto the K0sControlPlane created from the template."""
    spec: K0sControlPlaneTemplateResourceSpec
    """Spec is the K0sControlPlane spec the created object gets."""


class K0sControlPlaneTemplateSpec(KubeModel):
    """K0sControlPlaneTemplateSpec defines the desired state of K0sControlPlaneTemplate."""

    template: K0sControlPlaneTemplateResource
    """Template is the K0sControlPlane template."""


class K0sControlPlaneTemplate(Resource):
    """K0sControlPlaneTemplate is the template for creating K0s control planes."""

    crd: ClassVar[CRDInfo] = CRDInfo(group=GROUP, kind="K0sControlPlaneTemplate", plural="k0scontrolplanetemplates",
                                     provider=PROVIDER)

    # Optional only because the API server accepts an object without a spec; once given, the template and its
    # k0sConfigSpec are required.
    spec: K0sControlPlaneTemplateSpec | None = None
    """Spec defines the desired state of the K0sControlPlaneTemplate."""


# --- K0smotronControlPlane ---------------------------------------------------------------------------------------


class K0smotronControlPlane(Resource):
    """K0smotronControlPlane is a k0s control plane hosted as pods in the management (or a hosting) cluster."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP, kind="K0smotronControlPlane", plural="k0smotroncontrolplanes", provider=PROVIDER,
        status_subresource=True, scale_subresource=True, printer_columns=_printer_columns("K0smotronControlPlane"),
    )

    spec: ClusterSpec = Field(default_factory=ClusterSpec)
    status: K0smotronControlPlaneStatus | None = Field(default=None, json_schema_extra={"default": _STATUS_DEFAULT})


class K0smotronControlPlaneTemplateResource(KubeModel):
    """K0smotronControlPlaneTemplateResource defines the template for the control plane resource"""

    metadata: TemplateMeta | None = None
    """Standard object's metadata, copied onto the K0smotronControlPlane created from the template."""
    spec: ClusterSpec = Field(default_factory=ClusterSpec)
    """Spec is the K0smotronControlPlane spec the created object gets."""


class K0smotronControlPlaneTemplateSpec(KubeModel):
    """K0smotronControlPlaneTemplateSpec defines the desired state of K0smotronControlPlaneTemplate"""

    template: K0smotronControlPlaneTemplateResource = Field(default_factory=K0smotronControlPlaneTemplateResource)
    """Template is the K0smotronControlPlane template."""


class K0smotronControlPlaneTemplate(Resource):
    """K0smotronControlPlaneTemplate is the Schema for the k0smotroncontrolplanetemplates API"""

    crd: ClassVar[CRDInfo] = CRDInfo(group=GROUP, kind="K0smotronControlPlaneTemplate",
                                     plural="k0smotroncontrolplanetemplates", provider=PROVIDER)

    spec: K0smotronControlPlaneTemplateSpec = Field(default_factory=K0smotronControlPlaneTemplateSpec)


KINDS: tuple[type[Resource], ...] = (K0sControlPlane, K0sControlPlaneTemplate, K0smotronControlPlane,
                                     K0smotronControlPlaneTemplate)
"""The top-level kinds of the control plane provider."""
