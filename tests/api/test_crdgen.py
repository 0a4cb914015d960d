"""The CRD generator: a model's declarations become a structural schema the API server accepts and enforces."""

from __future__ import annotations

from typing import ClassVar, Literal

import pytest
from pydantic import Field

from k0smotron_core.api._base import (
    CRDInfo,
    FreeForm,
    IntOrString,
    KubeModel,
    NonNegativeInt32,
    Port,
    PrinterColumn,
    Resource,
)
from k0smotron_core.crdgen import SchemaError, crd_for, openapi_schema
from k0smotron_core.envtest import _schema


class GadgetTunnel(KubeModel):
    """GadgetTunnel says how a gadget is reached."""

    mode: Literal["tunnel", "proxy"] = "tunnel"
    """Mode of the tunnel."""
    port: Port = 31443
    """Port of the tunnel."""


class GadgetSpec(KubeModel):
    replicas: NonNegativeInt32 = 1
    """Replicas is the number of gadgets."""
    version: str | None = None
    """Version of k0s."""
    download_url: str | None = Field(default=None, alias="downloadURL")
    """Where to download k0s from."""
    tunneling: GadgetTunnel | None = None
    """Tunneling of the gadget."""
    k0s: FreeForm | None = None
    """Free-form k0s configuration."""
    labels: dict[str, str] | None = None
    """Labels to copy."""
    target_port: IntOrString | None = None
    """A port number or name."""
    commands: list[str] = Field(default_factory=list)
    """Commands to run."""
    ratio: float | None = Field(default=None, gt=0, lt=1)
    """A share strictly between 0 and 1."""


class GadgetStatus(KubeModel):
    ready: bool = False
    """Ready is true when the gadget is ready."""


class Gadget(Resource):
    """Gadget is a test kind."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group="example.k0smotron.io", kind="Gadget", plural="gadgets", provider="bootstrap-k0smotron",
        short_names=("gdg",), scale_subresource=True,
        printer_columns=(PrinterColumn("Replicas", ".spec.replicas", "integer"),),
    )
    spec: GadgetSpec = Field(default_factory=GadgetSpec)
    status: GadgetStatus | None = None


def _spec_schema() -> dict[str, object]:
    schema: dict[str, object] = openapi_schema(Gadget)["properties"]["spec"]  # type: ignore[index]
    return schema


def test_optional_fields_become_plain_typed_properties_with_their_descriptions() -> None:
    version = _spec_schema()["properties"]["version"]  # type: ignore[index]
    assert version == {"type": "string", "description": "Version of k0s."}


def test_explicit_wire_names_defaults_enums_and_bounds_flow_into_the_schema() -> None:
    properties = _spec_schema()["properties"]  # type: ignore[index]
    assert "downloadURL" in properties
    assert properties["replicas"] == {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**31 - 1,
                                      "default": 1, "description": "Replicas is the number of gadgets."}
    tunnel = properties["tunneling"]["properties"]
    assert tunnel["mode"] == {"type": "string", "enum": ["tunnel", "proxy"], "default": "tunnel",
                              "description": "Mode of the tunnel."}
    assert (tunnel["port"]["minimum"], tunnel["port"]["maximum"]) == (1, 65535)


def test_free_form_maps_int_or_string_and_exclusive_bounds_have_their_structural_forms() -> None:
    properties = _spec_schema()["properties"]  # type: ignore[index]
    assert properties["k0s"]["x-kubernetes-preserve-unknown-fields"] is True
    assert properties["labels"]["additionalProperties"] == {"type": "string"}
    assert properties["targetPort"]["x-kubernetes-int-or-string"] is True
    assert "type" not in properties["targetPort"]
    assert properties["ratio"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
                                   "exclusiveMaximum": True, "description": "A share strictly between 0 and 1."}


def test_the_crd_carries_names_labels_subresources_and_printer_columns() -> None:
    crd = crd_for(Gadget)
    assert crd["metadata"] == {"name": "gadgets.example.k0smotron.io", "labels": {
        "cluster.x-k8s.io/v1beta1": "v1beta1", "cluster.x-k8s.io/provider": "bootstrap-k0smotron"}}
    assert crd["spec"]["names"] == {"kind": "Gadget", "listKind": "GadgetList", "plural": "gadgets",
                                    "singular": "gadget", "shortNames": ["gdg"], "categories": ["cluster-api"]}
    [version] = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}, "scale": {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector"}}
    assert version["additionalPrinterColumns"] == [{"name": "Replicas", "type": "integer",
                                                    "jsonPath": ".spec.replicas"}]


def test_the_generated_crd_is_structural_as_the_api_server_checks_it() -> None:
    assert _schema.validate_crd(crd_for(Gadget)) == []


def test_the_schema_enforces_what_the_model_enforces() -> None:
    schema = openapi_schema(Gadget)
    bad = {"apiVersion": "example.k0smotron.io/v1beta1", "kind": "Gadget", "metadata": {"name": "g"},
           "spec": {"replicas": -1, "tunneling": {"mode": "tunel", "port": 70000}}}
    messages = sorted(e.message() for e in _schema.validate(bad, schema))
    assert messages == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        'spec.tunneling.mode: Unsupported value: "tunel": supported values: "tunnel", "proxy"',
        "spec.tunneling.port: Invalid value: 70000: spec.tunneling.port in body should be less than or equal to "
        "65535",
    ]


def test_a_shape_without_a_structural_form_is_refused_naming_the_field() -> None:
    class Mixed(KubeModel):
        value: int | bool = 0

    class Bad(Resource):
        crd: ClassVar[CRDInfo] = CRDInfo(group="example.io", kind="Bad", plural="bads", provider=None)
        spec: Mixed = Field(default_factory=Mixed)

    with pytest.raises(SchemaError, match=r"Bad\.spec\.value"):
        openapi_schema(Bad)
