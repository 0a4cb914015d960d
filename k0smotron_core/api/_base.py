"""Conventions shared by every model: camelCase wire names, strict parsing, attribute docstrings as descriptions,
and the CRD facts (group, names, subresources, printer columns) each top-level kind carries.

The models are the single source of truth: defaults, enums and bounds are declared here once and flow into the
generated CRDs (`python -m k0smotron_core.crdgen`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

API_VERSION = "v1beta1"
CAPI_CONTRACT_LABEL = "cluster.x-k8s.io/v1beta1"
PROVIDER_LABEL = "cluster.x-k8s.io/provider"

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1, json_schema_extra={"format": "int32"})]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]
Port = Annotated[int, Field(ge=1, le=65535, json_schema_extra={"format": "int32"})]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=2**31 - 1, json_schema_extra={"format": "int32"})]
FreeForm = Annotated[dict[str, Any], Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})]
"""An object of any shape the API server keeps as is (k0s ClusterConfig, embedded Kubernetes specs)."""
IntOrString = Annotated[int | str, Field(json_schema_extra={"x-kubernetes-int-or-string": True})]


def camel_case(name: str) -> str:
    """`k0s_install_dir` → `k0sInstallDir`. (pydantic's to_camel also capitalizes after digits: `k0s` → `k0S`.)"""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class KubeModel(BaseModel):
    """Base of every API model: wire names are camelCase, unknown fields are rejected with their path."""

    model_config = ConfigDict(
        alias_generator=camel_case,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        # The API server does not coerce ("1" is no integer there), so neither do the models.
        strict=True,
        use_attribute_docstrings=True,
        validate_default=False,
        # Validators are built on first use: each binary validates a few kinds of the ~20 defined, and building all
        # of them up front costs every process several MiB.
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        """The API server drops null values of fields that are not nullable before validating; so do the models."""
        if isinstance(data, dict) and any(value is None for value in data.values()):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def to_dict(self, *, exclude_unset: bool = True) -> dict[str, Any]:
        """The wire form. By default only what was set (or parsed) is written, so parse → dump is lossless."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=exclude_unset)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)


class ObjectMeta(KubeModel):
    """Standard object metadata (metav1.ObjectMeta). Server-set fields are accepted so live objects parse."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    managed_fields: list[dict[str, Any]] | None = None


class TemplateMeta(KubeModel):
    """Labels and annotations that are copied onto the objects created from a template (CAPI ObjectMeta)."""

    labels: dict[str, str] | None = None
    """Map of string keys and values that can be used to organize and categorize objects."""
    annotations: dict[str, str] | None = None
    """Unstructured key value map stored with a resource that may be set by external tools."""


class ObjectReference(KubeModel):
    """A reference to another object (corev1.ObjectReference)."""

    api_version: str | None = None
    """API version of the referent."""
    kind: str | None = None
    """Kind of the referent."""
    name: str | None = None
    """Name of the referent."""
    namespace: str | None = None
    """Namespace of the referent."""
    uid: str | None = None
    """UID of the referent."""
    resource_version: str | None = None
    """Specific resourceVersion to which this reference is made, if any."""
    field_path: str | None = None
    """If referring to a piece of an object instead of an entire object, the path to it."""


class LocalObjectReference(KubeModel):
    name: str = Field(min_length=1)
    """Name of the referent."""


class APIEndpoint(KubeModel):
    """Where an API server can be reached."""

    host: str = ""
    """The hostname or IP on which the API server is serving."""
    port: Int32 = 0
    """The port on which the API server is serving."""


class SecretMetadata(KubeModel):
    """Labels and annotations propagated to a Secret the providers generate."""

    labels: dict[str, str] | None = None
    """Labels to be added to the Secret."""
    annotations: dict[str, str] | None = None
    """Annotations to be added to the Secret."""


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CRDInfo:
    """What the CRD of a kind declares besides its schema."""

    group: str
    kind: str
    plural: str
    provider: str | None
    """The clusterctl provider label value (`bootstrap-k0smotron`, ...); None for kinds without it."""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("cluster-api",)
    status_subresource: bool = True
    scale_subresource: bool = False
    printer_columns: tuple[PrinterColumn, ...] = ()
    contract_label: bool = True
    """Whether the CRD carries the CAPI contract label `cluster.x-k8s.io/v1beta1: v1beta1`."""
    deprecated: bool = False
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{API_VERSION}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class Resource(KubeModel):
    """A top-level kind: apiVersion, kind, metadata, and the subclass's spec and status."""

    crd: ClassVar[CRDInfo]

    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @classmethod
    def new(cls, name: str, namespace: str = "default", **fields: Any) -> Self:
        """A new object of this kind with apiVersion and kind filled in."""
        return cls.model_validate({
            "apiVersion": cls.crd.api_version,
            "kind": cls.crd.kind,
            "metadata": {"name": name, "namespace": namespace},
            **fields,
        })


# --- conditions --------------------------------------------------------------------------------------------------


class Condition(KubeModel):
    """A Cluster API v1beta1 condition (`status.conditions`)."""

    type: str = Field(min_length=1)
    """Type of condition in CamelCase or in foo.example.com/CamelCase."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition, one of True, False, Unknown."""
    severity: Literal["", "Error", "Warning", "Info"] | None = None
    """Severity provides an explicit classification of Reason code; set only when Status is False."""
    last_transition_time: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    """Last time the condition transitioned from one status to another."""
    reason: str | None = None
    """The reason for the condition's last transition in CamelCase."""
    message: str | None = None
    """A human readable message indicating details about the transition."""


class MetaCondition(KubeModel):
    """A `metav1.Condition`, as Cluster API v1beta2 conditions are (`status.v1beta2.conditions`)."""

    type: str = Field(min_length=1, max_length=316)
    """Type of condition in CamelCase or in foo.example.com/CamelCase."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition, one of True, False, Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The .metadata.generation that the condition was set based upon."""
    last_transition_time: str = Field(json_schema_extra={"format": "date-time"})
    """Last time the condition transitioned from one status to another."""
    reason: str = Field(min_length=1, max_length=1024)
    """A programmatic identifier indicating the reason for the condition's last transition, in CamelCase."""
    message: str = Field(default="", max_length=32768)
    """A human readable message indicating details about the transition."""


MetaConditions = Annotated[
    list[MetaCondition],
    Field(max_length=32, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]


class V1Beta2Status(KubeModel):
    """New-style conditions published next to the v1beta1 ones, as Cluster API's migration stage 1 prescribes."""

    conditions: MetaConditions | None = None
    """Conditions in metav1.Condition form."""
