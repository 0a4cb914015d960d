"""The SSH infrastructure provider kinds (infrastructure.cluster.x-k8s.io): RemoteCluster, RemoteClusterTemplate,
RemoteMachine, RemoteMachineTemplate and PooledRemoteMachine.

Shapes follow the upstream v1beta1 Go types (`api/infrastructure/v1beta1`). The host key verification fields
(`hostKeyRef`, `hostKeyFingerprint`, `hostKeyPolicy`) are this project's own addition: upstream connects with host key
checking disabled.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ._base import (
    APIEndpoint,
    Condition,
    CRDInfo,
    FreeForm,
    Int32,
    KubeModel,
    Port,
    PrinterColumn,
    Resource,
    TemplateMeta,
    V1Beta2Status,
)

GROUP = "infrastructure.cluster.x-k8s.io"
PROVIDER = "infrastructure-k0smotron"

DEFAULT_SSH_PORT = 22
DEFAULT_USER = "root"
DEFAULT_WORKING_DIR = "/etc/k0smotron"
DEFAULT_KNOWN_HOSTS_KEY = "known_hosts"
HOST_KEY_FINGERPRINT_PATTERN = r"^SHA256:[A-Za-z0-9+/]{43}=?$"

HostKeyPolicy = Literal["Pinned", "TrustOnFirstUse", "Insecure"]
HostKeyFingerprint = Annotated[str, Field(pattern=HOST_KEY_FINGERPRINT_PATTERN)]
"""An OpenSSH SHA256 host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:` + 43 base64 characters."""



# --- RemoteCluster --------------------------------------------------------------------------------------------------


class RemoteClusterSpec(KubeModel):
    """Desired state of a RemoteCluster."""

    control_plane_endpoint: APIEndpoint | None = None
    """ControlPlaneEndpoint represents the endpoint used to communicate with the control plane."""


class FailureDomainSpec(KubeModel):
    """A failure domain a Machine may be placed in (Cluster API v1beta1 form)."""

    control_plane: bool | None = None
    """ControlPlane determines if this failure domain is suitable for use by control plane machines."""
    attributes: dict[str, str] | None = None
    """Attributes is a free form map of attributes an infrastructure provider might use or require."""


class Initialization(KubeModel):
    """Provisioning milestones (Cluster API v1beta2 contract), published next to the v1beta1 `ready` flag."""

    provisioned: bool | None = None
    """Provisioned is true when the infrastructure provider reports that the infrastructure is fully provisioned."""


class RemoteClusterStatus(KubeModel):
    """Observed state of a RemoteCluster."""

    ready: bool = False
    """Ready denotes that the remote cluster is ready to be used."""
    initialization: Initialization | None = None
    """Initialization provides observations of the RemoteCluster initialization process (v1beta2 contract)."""
    failure_domains: dict[str, FailureDomainSpec] | None = None
    """FailureDomains is a list of failure domain objects synced from the infrastructure provider."""
    conditions: list[Condition] | None = None
    """Conditions defines current service state of the RemoteCluster (Ready)."""
    v1beta2: V1Beta2Status | None = None
    """The same conditions in metav1.Condition form."""


class RemoteCluster(Resource):
    """The infrastructure of a cluster whose machines are reached over SSH: a placeholder that only carries the
    control plane endpoint."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="RemoteCluster",
        plural="remoteclusters",
        provider=PROVIDER,
        status_subresource=True,
    )

    spec: RemoteClusterSpec = Field(default_factory=RemoteClusterSpec)
    """Desired state of the RemoteCluster."""
    status: RemoteClusterStatus | None = None
    """Observed state of the RemoteCluster."""


class RemoteClusterTemplateResource(KubeModel):
    """The data needed to create a RemoteCluster from a template."""

    metadata: TemplateMeta | None = None
    """Labels and annotations copied onto the RemoteCluster."""
    spec: RemoteClusterSpec = Field(default_factory=RemoteClusterSpec)
    """Spec of the RemoteCluster to create."""


class RemoteClusterTemplateSpec(KubeModel):
    """Desired state of a RemoteClusterTemplate."""

    template: RemoteClusterTemplateResource = Field(default_factory=RemoteClusterTemplateResource)
    """Template of the RemoteCluster objects created from this template (ClusterClass)."""


class RemoteClusterTemplate(Resource):
    """A template for RemoteCluster objects, used by ClusterClass."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="RemoteClusterTemplate",
        plural="remoteclustertemplates",
        provider=PROVIDER,
        categories=("cluster-api",),
        status_subresource=False,
    )

    spec: RemoteClusterTemplateSpec = Field(default_factory=RemoteClusterTemplateSpec)
    """Desired state of the RemoteClusterTemplate."""


# --- RemoteMachine --------------------------------------------------------------------------------------------------


class SecretRef(KubeModel):
    """A reference to a Secret in the same namespace."""

    name: str = Field(min_length=1)
    """Name is the name of the secret."""


class HostKeyRef(KubeModel):
    """A Secret in the same namespace holding the accepted SSH host keys of the machine, in known_hosts format."""

    name: str = Field(min_length=1)
    """Name is the name of the secret."""
    key: str = Field(default=DEFAULT_KNOWN_HOSTS_KEY, min_length=1)
    """Key is the key in the secret whose value holds known_hosts lines (`<host> <key type> <base64 key>`)."""


class HostKeyPinning(KubeModel):
    """How a machine's SSH host key is verified (k0smotron-py addition; upstream connects without checking it).
    Shared by RemoteMachine and PooledRemoteMachine, which hands these fields to the RemoteMachine it is reserved
    for."""

    host_key_ref: HostKeyRef | None = None
    """HostKeyRef (k0smotron-py addition) is a Secret with the machine's accepted SSH host keys in known_hosts format.
    Used by the Pinned and TrustOnFirstUse policies."""
    host_key_fingerprint: HostKeyFingerprint | None = None
    """HostKeyFingerprint (k0smotron-py addition) is the SHA256 fingerprint (`SHA256:<base64>`, as printed by
    `ssh-keygen -lf`) the machine's SSH host key must have. Used by the Pinned and TrustOnFirstUse policies."""
    host_key_policy: HostKeyPolicy = "Pinned"
    """HostKeyPolicy (k0smotron-py addition) decides how the machine's SSH host key is verified.
    Pinned: the key must match hostKeyRef or hostKeyFingerprint, otherwise the connection is refused.
    TrustOnFirstUse: with nothing pinned, the key seen on the first connection is recorded in
    status.hostKeyFingerprint and required from then on.
    Insecure: the host key is not checked (upstream k0smotron behaviour)."""


class ProvisionJob(KubeModel):
    """A Kubernetes Job that provisions the machine instead of the controller's own SSH connection."""

    ssh_command: str = Field(default="ssh", alias="sshCommand")
    """SSHCommand is the ssh client command used by the job's entrypoint script."""
    scp_command: str = Field(default="scp", alias="scpCommand")
    """SCPCommand is the scp command used by the job's entrypoint script to upload files."""
    job_spec_template: FreeForm | None = None
    """JobTemplate is the job template (batch/v1 JobTemplateSpec) to use to provision the machine."""


class RemoteMachineSpec(HostKeyPinning):
    """Desired state of a RemoteMachine."""

    pool: str | None = None
    """Pool is the name of the pool where the machine belongs to."""
    provider_id: str | None = Field(default=None, alias="providerID")
    """ProviderID is the ID of the machine in the provider."""
    address: str | None = None
    """Address is the IP address or DNS name of the remote machine."""
    port: Port = DEFAULT_SSH_PORT
    """Port is the SSH port of the remote machine."""
    user: str = DEFAULT_USER
    """User is the user to use when connecting to the remote machine."""
    use_sudo: bool | None = None
    """UseSudo wraps every command in sudo (and uploads files through it) when the user is not root."""
    commands_as_script: bool = False
    """CommandsAsScript indicates if the commands should be executed as a script.
    If true, the commands will be written to a file and executed as a script.
    If false, the commands will be executed one by one."""
    working_dir: str = DEFAULT_WORKING_DIR
    """WorkingDir is the directory to use as working directory when connecting to the remote machine."""
    ssh_key_ref: SecretRef | None = Field(default=None, alias="sshKeyRef")
    """SSHKeyRef is a reference to a secret that contains the SSH private key.
    The key must be placed on the secret using the key "value"."""
    custom_clean_up_commands: list[str] | None = None
    """CustomCleanUpCommands allows the user to run custom commands during the machine cleanup process.
    If CustomCleanUpCommands is set and k0s is used as the bootstrap provider,
    the user is responsible for the complete cleanup of the k0s installation.
    See https://docs.k0sproject.io/stable/reset/ for more details."""
    provision_job: ProvisionJob | None = None
    """ProvisionJob describes the kubernetes Job to use to provision the machine."""


class MachineAddress(KubeModel):
    """An address of the machine (Cluster API MachineAddress)."""

    type: Literal["Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"]
    """Type is the machine address type: Hostname, ExternalIP, InternalIP, ExternalDNS or InternalDNS."""
    address: str
    """Address is the machine address."""


class ProvisioningStatus(KubeModel):
    """Progress of provisioning over SSH (k0smotron-py addition). It mirrors the records the provider keeps on the
    host under `<workingDir>/.k0smotron/<uid>/`, which are authoritative: a resumed attempt skips the steps the host
    reports done."""

    total_steps: Int32 | None = None
    """TotalSteps is the number of steps: uploading the files, then each bootstrap command (or the script)."""
    completed_steps: list[str] | None = None
    """CompletedSteps are the ids of the steps that succeeded on the host, in order."""
    failed_attempts: Int32 | None = None
    """FailedAttempts counts the provisioning attempts that failed since the last success; retries back off."""
    last_failure_time: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    """LastFailureTime is when the last provisioning or clean-up attempt failed; the next attempt waits out the
    backoff counted from it (unless the spec changed)."""
    cleanup_failed_attempts: Int32 | None = None
    """CleanupFailedAttempts counts the failed attempts to clean up the host on deletion; after the provider's
    limit, deletion goes on without the clean-up."""


class RemoteMachineStatus(KubeModel):
    """Observed state of a RemoteMachine."""

    ready: bool | None = None
    """Ready denotes that the remote machine is ready to be used."""
    initialization: Initialization | None = None
    """Initialization provides observations of the RemoteMachine initialization process (v1beta2 contract)."""
    addresses: list[MachineAddress] | None = None
    """Addresses contains the associated addresses for the machine."""
    failure_reason: str | None = None
    """FailureReason is a terminal problem reconciling the machine, in a format suitable for machine interpretation."""
    failure_message: str | None = None
    """FailureMessage is a terminal problem reconciling the machine, in a format suitable for logging."""
    host_key_fingerprint: HostKeyFingerprint | None = None
    """HostKeyFingerprint (k0smotron-py addition) is the SHA256 fingerprint of the SSH host key the machine presented
    and that was accepted."""
    provisioning: ProvisioningStatus | None = None
    """Provisioning (k0smotron-py addition) reports the progress of provisioning over SSH."""
    conditions: list[Condition] | None = None
    """Conditions defines current service state of the RemoteMachine (Ready, BootstrapExecSucceeded,
    HostKeyVerified)."""
    v1beta2: V1Beta2Status | None = None
    """The same conditions in metav1.Condition form."""


class RemoteMachine(Resource):
    """A machine (VM or bare metal) that already exists and is provisioned over SSH."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="RemoteMachine",
        plural="remotemachines",
        provider=PROVIDER,
        status_subresource=True,
    )

    spec: RemoteMachineSpec = Field(default_factory=RemoteMachineSpec)
    """Desired state of the RemoteMachine."""
    status: RemoteMachineStatus | None = None
    """Observed state of the RemoteMachine."""


# --- RemoteMachineTemplate ------------------------------------------------------------------------------------------


class RemoteMachineTemplateResourceSpec(KubeModel):
    """Spec of the RemoteMachines created from a template: they take their connection details from a pool."""

    pool: str = Field(min_length=1)
    """Pool is the name of the pool of PooledRemoteMachines the created machines are reserved from."""
    provision_job: ProvisionJob | None = None
    """ProvisionJob describes the kubernetes Job to use to provision the machine."""


class RemoteMachineTemplateResource(KubeModel):
    """The data needed to create a RemoteMachine from a template."""

    metadata: TemplateMeta | None = None
    """Labels and annotations copied onto the RemoteMachine."""
    spec: RemoteMachineTemplateResourceSpec
    """Spec of the RemoteMachine to create."""


class RemoteMachineTemplateSpec(KubeModel):
    """Desired state of a RemoteMachineTemplate."""

    template: RemoteMachineTemplateResource
    """Template of the RemoteMachine objects created from this template."""


class RemoteMachineTemplate(Resource):
    """A template for RemoteMachine objects (used by MachineDeployments and control planes)."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="RemoteMachineTemplate",
        plural="remotemachinetemplates",
        provider=PROVIDER,
        status_subresource=True,
    )

    spec: RemoteMachineTemplateSpec | None = None
    """Desired state of the RemoteMachineTemplate. The API server accepts a template without one; the template itself
    requires a pool."""


# --- PooledRemoteMachine --------------------------------------------------------------------------------------------


class PooledMachineSpec(HostKeyPinning):
    """Connection details of a pooled machine, copied into the RemoteMachine that reserves it."""

    address: str = Field(min_length=1)
    """Address is the IP address or DNS name of the remote machine."""
    port: Port = DEFAULT_SSH_PORT
    """Port is the SSH port of the remote machine."""
    user: str = DEFAULT_USER
    """User is the user to use when connecting to the remote machine."""
    use_sudo: bool | None = None
    """UseSudo wraps every command in sudo (and uploads files through it) when the user is not root."""
    commands_as_script: bool = False
    """CommandsAsScript indicates if the commands should be executed as a script.
    If true, the commands will be written to a file and executed as a script.
    If false, the commands will be executed one by one."""
    working_dir: str = DEFAULT_WORKING_DIR
    """WorkingDir is the directory to use as working directory when connecting to the remote machine."""
    custom_clean_up_commands: list[str] | None = None
    """CustomCleanUpCommands allow the user to run custom command for the clean up process of the machine."""
    ssh_key_ref: SecretRef = Field(alias="sshKeyRef")
    """SSHKeyRef is a reference to a secret that contains the SSH private key.
    The key must be placed on the secret using the key "value"."""


class PooledRemoteMachineSpec(KubeModel):
    """Desired state of a PooledRemoteMachine."""

    pool: str = Field(min_length=1)
    """Pool is the name of the pool the machine belongs to."""
    machine: PooledMachineSpec
    """Machine holds the connection details of the pooled machine."""


class RemoteMachineRef(KubeModel):
    """The RemoteMachine a pooled machine is reserved for."""

    name: str
    """Name of the RemoteMachine."""
    namespace: str
    """Namespace of the RemoteMachine."""


class PooledRemoteMachineStatus(KubeModel):
    """Observed state of a PooledRemoteMachine."""

    reserved: bool = False
    """Reserved is true while a RemoteMachine uses this pooled machine."""
    machine_ref: RemoteMachineRef | None = None
    """MachineRef is the RemoteMachine this pooled machine is reserved for."""


class PooledRemoteMachine(Resource):
    """A pre-existing machine in a pool, reserved by RemoteMachines created from a RemoteMachineTemplate."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group=GROUP,
        kind="PooledRemoteMachine",
        plural="pooledremotemachines",
        provider=PROVIDER,
        status_subresource=True,
        printer_columns=(
            PrinterColumn(name="Address", json_path=".spec.machine.address", description="Address of the machine"),
            PrinterColumn(
                name="Reserved", json_path=".status.reserved", type="boolean", description="Whether it is reserved"
            ),
            PrinterColumn(
                name="Remote Machine",
                json_path=".status.machineRef.name",
                description="The RemoteMachine it is reserved for",
            ),
        ),
    )

    spec: PooledRemoteMachineSpec | None = None
    """Desired state of the PooledRemoteMachine. The API server accepts an object without one; such a machine is never
    reserved."""
    status: PooledRemoteMachineStatus | None = None
    """Observed state of the PooledRemoteMachine."""
