"""The bootstrap provider's kinds (`bootstrap.cluster.x-k8s.io/v1beta1`): K0sWorkerConfig, K0sWorkerConfigTemplate
and K0sControllerConfig, plus the types they share with the control plane (K0sConfigSpec, File, TunnelingSpec, ...).

Field names, wire names, defaults, enums and descriptions mirror upstream k0smotron's `api/bootstrap/v1beta1`.
Additions over upstream v1beta1: `secretMetadata` on K0sConfigSpec (upstream only has it on the worker spec), and
the newer Cluster API status fields (`initialization.dataSecretCreated`, `failureReason`, `failureMessage`,
`observedGeneration`, `v1beta2.conditions`) next to the v1beta1 contract's `ready` / `dataSecretName`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._base import (
    Condition,
    CRDInfo,
    FreeForm,
    Int64,
    KubeModel,
    Port,
    Resource,
    SecretMetadata,
    TemplateMeta,
    V1Beta2Status,
)

GROUP = "bootstrap.cluster.x-k8s.io"
PROVIDER = "bootstrap-k0smotron"
DEFAULT_K0S_INSTALL_DIR = "/usr/local/bin"
DEFAULT_TUNNELING_SERVER_NODE_PORT = 31700
DEFAULT_TUNNELING_NODE_PORT = 31443

TunnelingMode = Literal["tunnel", "proxy"]
IgnitionVariant = Literal["fcos", "flatcar", "openshift", "r4e", "fiot"]

# Bootstrap data formats (the `format` key of the bootstrap Secret).
CLOUD_INIT_FORMAT = "cloud-config"
IGNITION_FORMAT = "ignition"


# --- shared types ------------------------------------------------------------------------------------------------


class ContentSourceRef(KubeModel):
    """ContentSourceRef is a reference to a secret or a configmap that contains the content."""

    name: str
    """Name is the name of the source"""
    key: str
    """Key is the key in the source that contains the content"""


class ContentSource(KubeModel):
    """ContentSource defines the source of the content."""

    secret_ref: ContentSourceRef | None = None
    """SecretRef is a reference to a secret that contains the content."""
    config_map_ref: ContentSourceRef | None = None
    """ConfigMapRef is a reference to a configmap that contains the content."""


class File(KubeModel):
    """File defines a file to be passed to user_data upon creation."""

    path: str | None = None
    """Path is the absolute path of the file on the node."""
    content: str | None = None
    """Content is the inline content of the file."""
    permissions: str | None = None
    """Permissions is the file mode in octal notation, e.g. "0644"."""
    content_from: ContentSource | None = None
    """ContentFrom specifies the source of the content."""




class IgnitionSpec(KubeModel):
    """IgnitionSpec defines the configuration for the Ignition provisioner."""

    variant: IgnitionVariant
    """Variant declares which distribution variant the generated config is for.
    Check the supported variants and versions here:
    https://coreos.github.io/butane/specs/#butane-specifications-and-ignition-specifications"""
    version: str
    """Version is the schema version of the Butane config to use
    Check the supported variants and versions here:
    https://coreos.github.io/butane/specs/#butane-specifications-and-ignition-specifications"""
    additional_config: str | None = None
    """AdditionalConfig is an unstructured object that contains additional config to be merged
    with the generated one. The format follows Butane spec: https://coreos.github.io/butane/"""


Ignition = IgnitionSpec
"""The v1beta1 top-level `ignition` block (upstream type name IgnitionSpec)."""


class TunnelingSpec(KubeModel):
    """TunnelingSpec defines the tunneling configuration for the cluster."""

    enabled: bool = False
    """Enabled specifies whether tunneling is enabled."""
    server_address: str | None = None
    """Server address of the tunneling server.
    If empty, k0smotron will try to detect worker node address for."""
    server_node_port: Port = DEFAULT_TUNNELING_SERVER_NODE_PORT
    """NodePort to publish for server port of the tunneling server.
    If empty, k0smotron will use the default one."""
    tunneling_node_port: Port = DEFAULT_TUNNELING_NODE_PORT
    """NodePort to publish for tunneling port.
    If empty, k0smotron will use the default one."""
    mode: TunnelingMode = "tunnel"
    """Mode describes tunneling mode.
    If empty, k0smotron will use the default one."""


class K0sConfigSpec(KubeModel):
    """K0sConfigSpec defines the common configuration for both K0sControllerConfig and K0sControlPlane."""

    ignition: IgnitionSpec | None = None
    """Ignition defines the ignition configuration. If empty, k0smotron will use cloud-init."""
    k0s_install_dir: str = DEFAULT_K0S_INSTALL_DIR
    """K0sInstallDir specifies the directory where k0s binary will be installed.
    If empty, k0smotron will use /usr/local/bin, which is the default install path used by k0s get script."""
    k0s: FreeForm | None = None
    """K0s defines the k0s configuration. Note, that some fields will be overwritten by k0smotron.
    If empty, will be used default configuration. @see https://docs.k0sproject.io/stable/configuration/"""
    files: list[File] | None = None
    """Files specifies extra files to be passed to user_data upon creation."""
    use_system_hostname: bool = False
    """UseSystemHostname specifies whether to use the system hostname for the kubernetes node name.
    By default, k0smotron will use Machine name as a node name. If true, it will pick it from `hostname` command
    output."""
    args: list[str] | None = None
    """Args specifies extra arguments to be passed to k0s controller.
    See: https://docs.k0sproject.io/stable/cli/k0s_controller/"""
    pre_start_commands: list[str] | None = None
    """PreStartCommands specifies commands to be run before starting k0s worker."""
    post_start_commands: list[str] | None = None
    """PostStartCommands specifies commands to be run after starting k0s worker."""
    pre_installed_k0s: bool | None = None
    """PreInstallK0s specifies whether k0s binary is pre-installed on the node."""
    download_url: str | None = Field(default=None, alias="downloadURL")
    """DownloadURL specifies the URL from which to download the k0s binary.
    If the version field is specified, it is ignored, and whatever version is downloaded from the URL is used.
    Supported protocols are: http, https, oci. Using 'oci' scheme requires 'oras' to be installed on the target system.

    If 'oci' schema is used and the OCI registry requires authentication, make sure to set up the authentication
    beforehand by adding a file to the Files section that contains the necessary config for ORAS.
    See: https://oras.land/docs/how_to_guides/authentication/
    The file must be placed at `/root` directory (HOME for cloud-init execution time) and named `config.json`.
    NOTE: use `.preStartCommands` to set DOCKER_CONFIG environment variable in order to let ORAS pick up your custom
    config file."""
    tunneling: TunnelingSpec = Field(default_factory=TunnelingSpec)
    """Tunneling defines the tunneling configuration for the cluster."""
    custom_user_data_ref: ContentSource | None = None
    """CustomUserDataRef is a reference to a secret or a configmap that contains the custom user data.
    Provided user-data will be merged with the one generated by k0smotron. Note that you may want to specify the merge
    type.
    See: https://cloudinit.readthedocs.io/en/latest/reference/merging.html"""
    secret_metadata: SecretMetadata | None = None
    """SecretMetadata specifies metadata (labels and annotations) to be propagated to the bootstrap Secret."""
    working_dir: str | None = None
    """WorkingDir specifies the working directory where k0smotron will place its files."""

    @property
    def k0s_config_path(self) -> str:
        """Where the k0s configuration file is written on the node."""
        return node_file_path(self.working_dir, "k0s.yaml")

    @property
    def join_token_path(self) -> str:
        """Where the k0s join token is written on the node."""
        return node_file_path(self.working_dir, "k0s.token")


def node_file_path(working_dir: str | None, name: str) -> str:
    """A bootstrap file's path on the node: in the working dir when one is set, else in /etc."""
    return f"{working_dir.rstrip('/')}/{name}" if working_dir else f"/etc/{name}"


# --- status ------------------------------------------------------------------------------------------------------


class BootstrapInitialization(KubeModel):
    """Initialization provides observations of the bootstrap config's initialization process.
    NOTE: fields in this struct are part of the Cluster API contract and are used to orchestrate initial Machine
    provisioning."""

    data_secret_created: bool | None = None
    """DataSecretCreated is true when the Machine's bootstrap secret is created."""


class BootstrapStatus(KubeModel):
    """The observed state of a bootstrap config, per the Cluster API v1beta1 bootstrap contract plus the v1beta2
    fields published next to it."""

    ready: bool | None = None
    """Ready indicates the Bootstrapdata field is ready to be consumed"""
    data_secret_name: str | None = None
    """DataSecretName is the name of the secret that stores the bootstrap data script."""
    initialization: BootstrapInitialization | None = None
    """Initialization provides observations of the initialization process (Cluster API v1beta2 contract)."""
    failure_reason: str | None = None
    """FailureReason will be set on non-retryable errors"""
    failure_message: str | None = None
    """FailureMessage will be set on non-retryable errors"""
    observed_generation: Int64 | None = Field(default=None, ge=0)
    """ObservedGeneration is the latest generation observed by the controller."""
    conditions: list[Condition] | None = None
    """Conditions defines current service state of the bootstrap config."""
    v1beta2: V1Beta2Status | None = None
    """V1Beta2 groups all the fields that will be added or modified in the v1beta2 API version."""


class K0sWorkerConfigStatus(BootstrapStatus):
    """K0sWorkerConfigStatus defines the observed state of K0sWorkerConfig"""


class K0sControllerConfigStatus(BootstrapStatus):
    """K0sControllerConfigStatus defines the observed state of K0sControllerConfig"""


# --- K0sWorkerConfig ---------------------------------------------------------------------------------------------


class K0sWorkerConfigSpec(KubeModel):
    """K0sWorkerConfigSpec defines the desired state of K0sWorkerConfig"""

    ignition: IgnitionSpec | None = None
    """Ignition defines the ignition configuration. If empty, k0smotron will use cloud-init."""
    k0s_install_dir: str = DEFAULT_K0S_INSTALL_DIR
    """K0sInstallDir specifies the directory where k0s binary will be installed.
    If empty, k0smotron will use /usr/local/bin, which is the default install path used by k0s get script."""
    version: str | None = None
    """Version is the version of k0s to use. In case this is not set, k0smotron will use
    a version field of the Machine object. If it's empty, the latest version is used.
    Make sure the version is compatible with the k0s version running on the control plane.
    For reference see the Kubernetes version skew policy:
    https://kubernetes.io/docs/setup/release/version-skew-policy/"""
    use_system_hostname: bool = False
    """UseSystemHostname specifies whether to use the system hostname for the kubernetes node name.
    By default, k0smotron will use Machine name as a node name. If true, it will pick it from `hostname` command
    output."""
    files: list[File] | None = None
    """Files specifies extra files to be passed to user_data upon creation."""
    args: list[str] | None = None
    """Args specifies extra arguments to be passed to k0s worker.
    See: https://docs.k0sproject.io/stable/worker-node-config/
    See: https://docs.k0sproject.io/stable/cli/k0s_worker/"""
    pre_start_commands: list[str] | None = None
    """PreStartCommands specifies commands to be run before starting k0s worker."""
    post_start_commands: list[str] | None = None
    """PostStartCommands specifies commands to be run after starting k0s worker."""
    pre_installed_k0s: bool | None = None
    """PreInstallK0s specifies whether k0s binary is pre-installed on the node."""
    download_url: str | None = Field(default=None, alias="downloadURL")
    """DownloadURL specifies the URL to download k0s binary from.
    If specified the version field is ignored and what ever version is downloaded from the URL is used."""
    custom_user_data_ref: ContentSource | None = None
    """CustomUserDataRef is a reference to a secret or a configmap that contains the custom user data.
    Provided user-data will be merged with the one generated by k0smotron. Note that you may want to specify the merge
    type.
    See: https://cloudinit.readthedocs.io/en/latest/reference/merging.html"""
    secret_metadata: SecretMetadata | None = None
    """SecretMetadata specifies metadata (labels and annotations) to be propagated to the bootstrap Secret."""
    working_dir: str | None = None
    """WorkingDir specifies the working directory where k0smotron will place its files."""

    @property
    def k0s_config_path(self) -> str:
        """Where the k0s configuration file is written on the node."""
        return node_file_path(self.working_dir, "k0s.yaml")

    @property
    def join_token_path(self) -> str:
        """Where the k0s join token is written on the node."""
        return node_file_path(self.working_dir, "k0s.token")


class K0sWorkerConfig(Resource):
    """K0sWorkerConfig is the Schema for the k0sworkerconfigs API"""

    crd: ClassVar[CRDInfo] = CRDInfo(group=GROUP, kind="K0sWorkerConfig", plural="k0sworkerconfigs",
                                     provider=PROVIDER)

    spec: K0sWorkerConfigSpec = Field(default_factory=K0sWorkerConfigSpec)
    status: K0sWorkerConfigStatus | None = None

    @property
    def provisioning_format(self) -> str:
        """The bootstrap data format: `ignition` when an ignition block is given, else `cloud-config`."""
        return IGNITION_FORMAT if self.spec.ignition is not None else CLOUD_INIT_FORMAT


class K0sWorkerConfigTemplateResource(KubeModel):
    """K0sWorkerConfigTemplateResource describes the data needed to create a K0sWorkerConfig from a template."""

    metadata: TemplateMeta | None = None
    """Standard object's metadata, copied onto the K0sWorkerConfigs created from the template."""
    spec: K0sWorkerConfigSpec = Field(default_factory=K0sWorkerConfigSpec)
    """Spec is the K0sWorkerConfig spec the created objects get."""


class K0sWorkerConfigTemplateSpec(KubeModel):
    """K0sWorkerConfigTemplateSpec defines the desired state of K0sWorkerConfigTemplate"""

    template: K0sWorkerConfigTemplateResource = Field(default_factory=K0sWorkerConfigTemplateResource)
    """Template is the K0sWorkerConfig template."""


class K0sWorkerConfigTemplate(Resource):
    """K0sWorkerConfigTemplate is the Schema for the k0sworkerconfigtemplates API"""

    crd: ClassVar[CRDInfo] = CRDInfo(group=GROUP, kind="K0sWorkerConfigTemplate", plural="k0sworkerconfigtemplates",
                                     provider=PROVIDER)

    spec: K0sWorkerConfigTemplateSpec = Field(default_factory=K0sWorkerConfigTemplateSpec)


# --- K0sControllerConfig -----------------------------------------------------------------------------------------


class K0sControllerConfigSpec(K0sConfigSpec):
    """K0sControllerConfigSpec defines the desired state of K0sControllerConfig"""

    version: str | None = None
    """Version is the version of k0s to use. In case this is not set, k0smotron will use
    a version field of the Machine object. If it's empty, the latest version is used.
    Make sure the version is compatible with the k0s version running on the control plane.
    For reference see the Kubernetes version skew policy:
    https://kubernetes.io/docs/setup/release/version-skew-policy/"""


class K0sControllerConfig(Resource):
    """K0sControllerConfig is the Schema for the k0scontrollerconfigs API"""

    crd: ClassVar[CRDInfo] = CRDInfo(group=GROUP, kind="K0sControllerConfig", plural="k0scontrollerconfigs",
                                     provider=PROVIDER)

    spec: K0sControllerConfigSpec = Field(default_factory=K0sControllerConfigSpec)
    status: K0sControllerConfigStatus | None = None

    @property
    def provisioning_format(self) -> str:
        """The bootstrap data format: `ignition` when an ignition block is given, else `cloud-config`."""
        return IGNITION_FORMAT if self.spec.ignition is not None else CLOUD_INIT_FORMAT


KINDS: tuple[type[Resource], ...] = (K0sWorkerConfig, K0sWorkerConfigTemplate, K0sControllerConfig)
"""The top-level kinds of the bootstrap provider."""
