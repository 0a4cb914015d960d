"""CustomResourceDefinitions generated from the API models.

`crd_for(model)` builds the apiextensions.k8s.io/v1 CRD of a top-level kind from its pydantic schema and its
`CRDInfo`: a structural openAPIV3Schema (every `$ref` inlined, `Optional` collapsed, enums, bounds, defaults and the
models' attribute docstrings as descriptions), the status and scale subresources, printer columns, short names,
categories, and the CAPI contract and clusterctl provider labels.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from ..api._base import API_VERSION, CAPI_CONTRACT_LABEL, PROVIDER_LABEL, Resource

_STANDARD_ROOT = {
    "apiVersion": {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should "
        "convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
    },
    "kind": {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents. Servers may "
        "infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    },
    "metadata": {"type": "object"},
}
_KEPT_KEYWORDS = {
    "type", "description", "default", "enum", "format", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "multipleOf", "required", "nullable",
}


class SchemaError(ValueError):
    """A model uses a shape that has no structural-schema equivalent; the message names the path."""


def openapi_schema(model: type[Resource]) -> dict[str, Any]:
    """The structural openAPIV3Schema of a top-level kind."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    schema = _structural(raw, definitions, model.__name__)
    properties = schema.setdefault("properties", {})
    properties.update(_STANDARD_ROOT)
    schema["properties"] = {key: properties[key] for key in ("apiVersion", "kind", "metadata", *(
        k for k in properties if k not in _STANDARD_ROOT))}
    schema.pop("required", None)
    schema["type"] = "object"
    return schema


def _structural(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, definitions)
    if "anyOf" in node or "oneOf" in node:
        return _union(node, definitions, path)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    result: dict[str, Any] = {k: v for k, v in node.items() if k in _KEPT_KEYWORDS}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            result[key] = value
    if result.get("default", 0) is None:
        del result["default"]
    _openapi3_exclusive_bounds(node, result)
    if "enum" in node and "type" not in result:
        result["type"] = _json_type(node["enum"][0])
    if "properties" in node:
        result["type"] = "object"
        result["properties"] = {
            name: _structural(child, definitions, f"{path}.{name}") for name, child in node["properties"].items()
        }
        if node.get("additionalProperties") is True:
            # A model that keeps unknown fields (extra="allow").
            result["x-kubernetes-preserve-unknown-fields"] = True
    elif node.get("type") == "object":
        additional = node.get("additionalProperties", True)
        if isinstance(additional, dict) and additional:
            result["additionalProperties"] = _structural(additional, definitions, f"{path}[*]")
        else:
            result["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        result["items"] = _structural(node["items"], definitions, f"{path}[*]")
    if "prefixItems" in node:
        raise SchemaError(f"{path}: tuples have no structural-schema form; use a list")
    if "type" not in result and not result.get("x-kubernetes-int-or-string") and not result.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        raise SchemaError(f"{path}: no type could be derived from {sorted(node)}")
    return result


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref` (and pydantic's single-element `allOf` wrapper), letting the referring node's keys win."""
    while True:
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def _union(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    options = [_resolve(o, definitions) for o in node.get("anyOf", node.get("oneOf", []))]
    non_null = [o for o in options if o.get("type") != "null"]
    outer = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
    if len(non_null) == 1:
        return _structural({**non_null[0], **outer}, definitions, path)
    types = sorted(o.get("type", "") for o in non_null)
    if types == ["integer", "string"]:
        result = _structural({**outer, "x-kubernetes-int-or-string": True}, definitions, path)
        result.pop("type", None)
        return result
    raise SchemaError(f"{path}: a union of {types} has no structural-schema form")


def _openapi3_exclusive_bounds(node: dict[str, Any], result: dict[str, Any]) -> None:
    """JSON Schema's numeric exclusive bounds become OpenAPI 3.0's boolean form."""
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            result[limit] = value
            result[bound] = True


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def crd_for(model: type[Resource]) -> dict[str, Any]:
    info = model.crd
    labels: dict[str, str] = {}
    if info.contract_label:
        labels[CAPI_CONTRACT_LABEL] = API_VERSION
    if info.provider:
        labels[PROVIDER_LABEL] = info.provider
    labels.update(info.extra_labels)
    names: dict[str, Any] = {"kind": info.kind, "listKind": f"{info.kind}List", "plural": info.plural,
                             "singular": info.singular}
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    version: dict[str, Any] = {"name": API_VERSION, "served": True, "storage": True}
    if info.deprecated:
        version["deprecated"] = True
    if info.printer_columns:
        version["additionalPrinterColumns"] = [_printer_column(c) for c in info.printer_columns]
    version["schema"] = {"openAPIV3Schema": openapi_schema(model)}
    subresources: dict[str, Any] = {}
    if info.scale_subresource:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                                 "labelSelectorPath": ".status.selector"}
    if info.status_subresource:
        subresources["status"] = {}
    if subresources:
        version["subresources"] = subresources
    metadata: dict[str, Any] = {"name": info.crd_name}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {"group": info.group, "names": names, "scope": "Namespaced", "versions": [version]},
    }


def _printer_column(column: Any) -> dict[str, Any]:
    rendered: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description:
        rendered["description"] = column.description
    if column.priority:
        rendered["priority"] = column.priority
    return rendered


def file_name(model: type[Resource]) -> str:
    return f"{model.crd.group}_{model.crd.plural}.yaml"


def to_yaml(document: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = StringIO()
    stream.write("# Generated by `python -m k0smotron_core.crdgen` from k0smotron_core.api. Do not edit.\n")
    yaml.dump(document, stream)
    return stream.getvalue()


def render(models: list[type[Resource]]) -> dict[str, str]:
    """File name → YAML text of each model's CRD."""
    return {file_name(model): to_yaml(crd_for(model)) for model in models}
