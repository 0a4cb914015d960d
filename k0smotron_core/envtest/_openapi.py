"""OpenAPI v3 documents shaped like the ones kube-apiserver serves at /openapi/v3.

Clients read these for two things, so those are what this module gets right:

* kubectl decides whether it may rely on server-side field validation by finding the PATCH operation whose
  `x-kubernetes-group-version-kind` is the object's kind and checking that it lists a `fieldValidation` query
  parameter (likewise `dryRun`); parameters are therefore written inline on each operation, never as `$ref`s.
* `kubectl explain` finds a kind's schema by the `x-kubernetes-group-version-kind` extension of
  `components.schemas` entries and prints their descriptions, so CRD schemas are published as written
  (descriptions and `x-kubernetes-*` extensions kept), with the standard `apiVersion`, `kind` and `metadata`
  properties that the API server adds.

Paths, operation ids, tags and schema names follow the real server's conventions (e.g.
`patchControlplaneClusterXK8sIoV1beta1NamespacedK0sControlPlane`,
`io.x-k8s.cluster.controlplane.v1beta1.K0sControlPlane`). Simplified: the deprecated `/watch/` paths are not
served, and built-in kinds get a permissive object schema rather than their full published schema.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]

_SCHEMA_REF_PREFIX = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
OBJECT_META = f"{_META}.ObjectMeta"
LIST_META = f"{_META}.ListMeta"
STATUS = f"{_META}.Status"
DELETE_OPTIONS = f"{_META}.DeleteOptions"
PATCH = f"{_META}.Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"
_SCALE_GVK = {"group": "autoscaling", "kind": "Scale", "version": "v1"}

_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    f"{_CONVENTIONS}#resources"
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from "
    "the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    f"{_CONVENTIONS}#types-kinds"
)
_OBJECT_METADATA_DESCRIPTION = f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"
_LIST_METADATA_DESCRIPTION = f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"


@dataclass(frozen=True)
class OpenAPIResource:
    """One served resource, as the document builders need to know it."""

    group: str  # "" for core
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any] | None  # the CRD version's openAPIV3Schema; None for built-in kinds
    subresources: frozenset[str]  # subset of {"status", "scale"}


def openapi_v3_path(group: str, version: str) -> str:
    """The key of a group-version in the /openapi/v3 root, and the path of its document below /openapi/v3/."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(group_versions: list[tuple[str, str]], hashes: dict[str, str]) -> dict[str, Any]:
    """The /openapi/v3 discovery document; `hashes` is keyed by `openapi_v3_path`."""
    paths: dict[str, Any] = {}
    for group, version in sorted(group_versions):
        key = openapi_v3_path(group, version)
        url = f"/openapi/v3/{key}"
        if key in hashes:
            url += f"?hash={hashes[key]}"
        paths[key] = {"serverRelativeURL": url}
    return {"paths": dict(sorted(paths.items()))}


def document_hash(doc: Document) -> str:
    """The document's etag as the real server computes it: upper-case hex SHA-512 of its JSON."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


def openapi_v3_document(group: str, version: str, resources: list[OpenAPIResource]) -> Document:
    """The OpenAPI 3.0 document of one group-version."""
    custom = bool(resources) and all(resource.schema is not None for resource in resources)
    paths: dict[str, Any] = {}
    schemas = _meta_schemas(group, version)
    for resource in sorted(resources, key=lambda r: r.kind):
        paths.update(_resource_paths(resource))
        schemas[schema_name(resource.group, resource.version, resource.kind)] = _kind_schema(resource)
        schemas[schema_name(resource.group, resource.version, resource.kind + "List")] = _list_schema(resource)
        if "scale" in resource.subresources:
            schemas.update(_scale_schemas())
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}
        if custom
        else {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
    }


# --- names -----------------------------------------------------------------------------------------------

# Where the real server's built-in kinds get their schema names (the Go package of their types).
_BUILTIN_SCHEMA_PREFIXES = {
    "": "io.k8s.api.core",
    "admissionregistration.k8s.io": "io.k8s.api.admissionregistration",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
    "authentication.k8s.io": "io.k8s.api.authentication",
    "authorization.k8s.io": "io.k8s.api.authorization",
    "certificates.k8s.io": "io.k8s.api.certificates",
    "coordination.k8s.io": "io.k8s.api.coordination",
    "discovery.k8s.io": "io.k8s.api.discovery",
    "events.k8s.io": "io.k8s.api.events",
    "flowcontrol.apiserver.k8s.io": "io.k8s.api.flowcontrol",
    "internal.apiserver.k8s.io": "io.k8s.api.apiserverinternal",
    "networking.k8s.io": "io.k8s.api.networking",
    "node.k8s.io": "io.k8s.api.node",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "resource.k8s.io": "io.k8s.api.resource",
    "scheduling.k8s.io": "io.k8s.api.scheduling",
    "storage.k8s.io": "io.k8s.api.storage",
    "storagemigration.k8s.io": "io.k8s.api.storagemigration",
}


def schema_name(group: str, version: str, kind: str) -> str:
    """The `components.schemas` name of a kind, e.g. `io.x-k8s.cluster.controlplane.v1beta1.K0sControlPlane`."""
    if group in _BUILTIN_SCHEMA_PREFIXES:
        prefix = _BUILTIN_SCHEMA_PREFIXES[group]
    elif "." not in group:  # apps, batch, policy, autoscaling
        prefix = f"io.k8s.api.{group}"
    else:  # custom resources: the group's domain reversed
        prefix = ".".join(reversed(group.split(".")))
    return f"{prefix}.{version}.{kind}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMA_REF_PREFIX + name}


def _ref_property(name: str, description: str) -> dict[str, Any]:
    # OpenAPI 3.0 ignores siblings of a $ref, so the real server wraps a described reference in allOf.
    return {"description": description, "allOf": [_ref(name)]}


def _operation_id_part(text: str, *, capitalize_first: bool) -> str:
    """The real server's ToValidOperationID: drops non-identifier characters, capitalising what follows."""
    out = []
    capitalize = capitalize_first
    for index, char in enumerate(text):
        if char.isalpha() or char == "_" or (index != 0 and char.isdigit()):
            out.append(char.upper() if capitalize else char)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def _group_for_ids(group: str) -> str:
    return group.removesuffix(".k8s.io") if group else "core"


def _operation_id(verb: str, resource: OpenAPIResource, rest: str) -> str:
    group = _operation_id_part(_group_for_ids(resource.group), capitalize_first=True)
    version = _operation_id_part(resource.version, capitalize_first=True)
    return f"{verb}{group}{version}{rest}"


def _tag(resource: OpenAPIResource) -> str:
    group = _operation_id_part(_group_for_ids(resource.group), capitalize_first=False)
    return f"{group}_{_operation_id_part(resource.version, capitalize_first=False)}"


def _gvk(resource: OpenAPIResource) -> dict[str, str]:
    return {"group": resource.group, "kind": resource.kind, "version": resource.version}


# --- paths -----------------------------------------------------------------------------------------------


def _resource_paths(resource: OpenAPIResource) -> dict[str, Any]:
    base = "/" + openapi_v3_path(resource.group, resource.version)
    namespace = "/namespaces/{namespace}" if resource.namespaced else ""
    collection = f"{base}{namespace}/{resource.plural}"
    item = collection + "/{name}"
    paths = {collection: _collection_path(resource), item: _item_path(resource)}
    for subresource in sorted(resource.subresources & {"status", "scale"}):
        paths[f"{item}/{subresource}"] = _subresource_path(resource, subresource)
    if resource.namespaced:
        paths[f"{base}/{resource.plural}"] = _all_namespaces_path(resource)
    return paths


def _scope(resource: OpenAPIResource) -> str:
    return "Namespaced" if resource.namespaced else ""


def _path_parameters(resource: OpenAPIResource, *, with_name: bool) -> list[dict[str, Any]]:
    parameters = []
    if with_name:
        parameters.append(_path_parameter("name", f"name of the {resource.kind}"))
    if resource.namespaced:
        parameters.append(_path_parameter("namespace", "object name and auth scope, such as for teams and projects"))
    parameters += _query("pretty")
    return parameters


def _collection_path(resource: OpenAPIResource) -> dict[str, Any]:
    scoped_kind = _scope(resource) + resource.kind
    kind_ref, list_ref = _kind_and_list_names(resource)
    return {
        "get": _operation(
            resource,
            description=f"list or watch objects of kind {resource.kind}",
            operation_id=_operation_id("list", resource, scoped_kind),
            action="list",
            parameters=_query(*_LIST_PARAMETERS),
            responses=_responses({"200": "OK"}, list_ref, _list_media_types(resource)),
        ),
        "post": _operation(
            resource,
            description=f"create a {resource.kind}",
            operation_id=_operation_id("create", resource, scoped_kind),
            action="post",
            parameters=_query("dryRun", "fieldManager", "fieldValidation"),
            request_body=_body(kind_ref),
            responses=_responses({"200": "OK", "201": "Created", "202": "Accepted"}, kind_ref, _media_types(resource)),
        ),
        "delete": _operation(
            resource,
            description=f"delete collection of {resource.kind}",
            operation_id=_operation_id("delete", resource, "Collection" + scoped_kind),
            action="deletecollection",
            parameters=_query(*_DELETE_COLLECTION_PARAMETERS),
            request_body=_body(DELETE_OPTIONS, required=False),
            responses=_responses({"200": "OK"}, STATUS, _media_types(resource)),
        ),
        "parameters": _path_parameters(resource, with_name=False),
    }


def _item_path(resource: OpenAPIResource) -> dict[str, Any]:
    scoped_kind = _scope(resource) + resource.kind
    kind_ref, _ = _kind_and_list_names(resource)
    media_types = _media_types(resource)
    return {
        "get": _operation(
            resource,
            description=f"read the specified {resource.kind}",
            operation_id=_operation_id("read", resource, scoped_kind),
            action="get",
            parameters=[],
            responses=_responses({"200": "OK"}, kind_ref, media_types),
        ),
        "put": _operation(
            resource,
            description=f"replace the specified {resource.kind}",
            operation_id=_operation_id("replace", resource, scoped_kind),
            action="put",
            parameters=_query("dryRun", "fieldManager", "fieldValidation"),
            request_body=_body(kind_ref),
            responses=_responses({"200": "OK", "201": "Created"}, kind_ref, media_types),
        ),
        "delete": _operation(
            resource,
            description=f"delete a {resource.kind}",
            operation_id=_operation_id("delete", resource, scoped_kind),
            action="delete",
            parameters=_query(*_DELETE_PARAMETERS),
            request_body=_body(DELETE_OPTIONS, required=False),
            responses=_responses({"200": "OK", "202": "Accepted"}, STATUS, media_types),
        ),
        "patch": _patch_operation(resource, f"partially update the specified {resource.kind}", scoped_kind, kind_ref),
        "parameters": _path_parameters(resource, with_name=True),
    }


def _subresource_path(resource: OpenAPIResource, subresource: str) -> dict[str, Any]:
    scoped_kind = _scope(resource) + resource.kind + subresource.capitalize()
    is_scale = subresource == "scale"
    target = SCALE if is_scale else _kind_and_list_names(resource)[0]
    gvk = _SCALE_GVK if is_scale else _gvk(resource)
    media_types = _media_types(resource)
    return {
        "get": _operation(
            resource,
            description=f"read {subresource} of the specified {resource.kind}",
            operation_id=_operation_id("read", resource, scoped_kind),
            action="get",
            parameters=[],
            responses=_responses({"200": "OK"}, target, media_types),
            gvk=gvk,
        ),
        "put": _operation(
            resource,
            description=f"replace {subresource} of the specified {resource.kind}",
            operation_id=_operation_id("replace", resource, scoped_kind),
            action="put",
            parameters=_query("dryRun", "fieldManager", "fieldValidation"),
            request_body=_body(target),
            responses=_responses({"200": "OK", "201": "Created"}, target, media_types),
            gvk=gvk,
        ),
        "patch": _patch_operation(
            resource, f"partially update {subresource} of the specified {resource.kind}", scoped_kind, target, gvk=gvk
        ),
        "parameters": _path_parameters(resource, with_name=True),
    }


def _all_namespaces_path(resource: OpenAPIResource) -> dict[str, Any]:
    _, list_ref = _kind_and_list_names(resource)
    return {
        "get": _operation(
            resource,
            description=f"list or watch objects of kind {resource.kind}",
            operation_id=_operation_id("list", resource, resource.kind + "ForAllNamespaces"),
            action="list",
            parameters=_query(*_LIST_PARAMETERS),
            responses=_responses({"200": "OK"}, list_ref, _list_media_types(resource)),
        ),
        "parameters": _query("pretty"),
    }


def _patch_operation(
    resource: OpenAPIResource, description: str, scoped_kind: str, target: str, *, gvk: dict[str, str] | None = None
) -> dict[str, Any]:
    patch_types = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
    if resource.schema is None:  # custom resources do not support strategic merge patch
        patch_types.append("application/strategic-merge-patch+json")
    return _operation(
        resource,
        description=description,
        operation_id=_operation_id("patch", resource, scoped_kind),
        action="patch",
        parameters=_query("dryRun", "fieldManager", "fieldValidation", "force", patch=True),
        request_body={"content": {media: {"schema": _ref(PATCH)} for media in patch_types}, "required": True},
        responses=_responses({"200": "OK", "201": "Created"}, target, _media_types(resource)),
        gvk=gvk,
    )


def _operation(
    resource: OpenAPIResource,
    *,
    description: str,
    operation_id: str,
    action: str,
    parameters: list[dict[str, Any]],
    responses: dict[str, Any],
    request_body: dict[str, Any] | None = None,
    gvk: dict[str, str] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [_tag(resource)],
        "description": description,
        "operationId": operation_id,
    }
    if parameters:
        operation["parameters"] = parameters
    if request_body is not None:
        operation["requestBody"] = request_body
    operation["responses"] = responses
    operation["x-kubernetes-action"] = action
    operation["x-kubernetes-group-version-kind"] = dict(gvk or _gvk(resource))
    return operation


def _kind_and_list_names(resource: OpenAPIResource) -> tuple[str, str]:
    return (
        schema_name(resource.group, resource.version, resource.kind),
        schema_name(resource.group, resource.version, resource.kind + "List"),
    )


def _media_types(resource: OpenAPIResource) -> list[str]:
    media_types = ["application/json", "application/yaml"]
    if resource.schema is None:
        media_types.append("application/vnd.kubernetes.protobuf")
    return media_types


def _list_media_types(resource: OpenAPIResource) -> list[str]:
    streams = ["application/json;stream=watch"]
    if resource.schema is None:
        streams.append("application/vnd.kubernetes.protobuf;stream=watch")
    return _media_types(resource) + streams


def _responses(codes: dict[str, str], target: str, media_types: list[str]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        code: {"description": text, "content": {media: {"schema": _ref(target)} for media in media_types}}
        for code, text in codes.items()
    }
    responses["401"] = {"description": "Unauthorized"}
    return responses


def _body(target: str, *, required: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"*/*": {"schema": _ref(target)}}}
    if required:
        body["required"] = True
    return body


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _query_parameter(name: str, description: str, json_type: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": json_type, "uniqueItems": True}}


def _query(*names: str, patch: bool = False) -> list[dict[str, Any]]:
    # fieldManager is described differently on PATCH, where it is required for apply patches.
    return [
        copy.deepcopy(_PATCH_FIELD_MANAGER if patch and name == "fieldManager" else _PARAMETERS[name]) for name in names
    ]


_LIST_PARAMETERS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_DELETE_PARAMETERS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETE_COLLECTION_PARAMETERS = (
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
)

_FIELD_MANAGER_DESCRIPTION = (
    "fieldManager is a name associated with the actor or entity that is making these changes. The value must be "
    "less than or 128 characters long, and only contain printable characters, as defined by "
    "https://golang.org/pkg/unicode/#IsPrint."
)
_PATCH_FIELD_MANAGER = _query_parameter(
    "fieldManager",
    _FIELD_MANAGER_DESCRIPTION + " This field is required for apply requests (application/apply-patch) but "
    "optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).",
)
_RESOURCE_VERSIONS_DOC = (
    "See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details."
)
_PARAMETERS: dict[str, dict[str, Any]] = {
    "pretty": _query_parameter(
        "pretty",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a "
        "browser or command-line HTTP tool (curl and wget).",
    ),
    "dryRun": _query_parameter(
        "dryRun",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun "
        "directive will result in an error response and no further processing of the request. Valid values are: "
        "- All: all dry run stages will be processed",
    ),
    "fieldManager": _query_parameter("fieldManager", _FIELD_MANAGER_DESCRIPTION),
    "fieldValidation": _query_parameter(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing "
        "unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are "
        "silently dropped from the object, and will ignore all but the last duplicate field that the decoder "
        "encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the "
        "standard warning response header for each unknown field that is dropped from the object, and for each "
        "duplicate field that is encountered. The request will still succeed if there are no other errors, and "
        "will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will "
        "fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if "
        "any duplicate fields are present. The error returned from the server will contain all unknown and "
        "duplicate fields encountered.",
    ),
    "force": _query_parameter(
        "force",
        'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by '
        "other people. Force flag must be unset for non-apply patch requests.",
        "boolean",
    ),
    "allowWatchBookmarks": _query_parameter(
        "allowWatchBookmarks",
        'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement bookmarks '
        "may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume "
        "bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK "
        "event during a session. If this is not a watch, this field is ignored.",
        "boolean",
    ),
    "continue": _query_parameter(
        "continue",
        "The continue option should be set when retrieving more results from the server. Since this value is "
        "server defined, clients may only use the continue value from a previous query result with identical "
        "query parameters (except for the value of continue) and the server may reject a continue value it does "
        "not recognize. If the specified continue value is no longer valid whether due to expiration (generally "
        "five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 "
        "ResourceExpired error together with a continue token.",
    ),
    "fieldSelector": _query_parameter(
        "fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults to everything."
    ),
    "labelSelector": _query_parameter(
        "labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults to everything."
    ),
    "limit": _query_parameter(
        "limit",
        "limit is a maximum number of responses to return for a list call. If more items exist, the server will "
        "set the `continue` field on the list metadata to a value that can be used with the same initial query "
        "to retrieve the next set of results.",
        "integer",
    ),
    "resourceVersion": _query_parameter(
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served from. "
        f"{_RESOURCE_VERSIONS_DOC}\n\nDefaults to unset",
    ),
    "resourceVersionMatch": _query_parameter(
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended "
        "that resourceVersionMatch be set for list calls where resourceVersion is set "
        f"{_RESOURCE_VERSIONS_DOC}\n\nDefaults to unset",
    ),
    "sendInitialEvents": _query_parameter(
        "sendInitialEvents",
        "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
        "begin with synthetic events to produce the current state of objects in the collection. Once all such "
        'events have been sent, a synthetic "Bookmark" event will be sent.',
        "boolean",
    ),
    "timeoutSeconds": _query_parameter(
        "timeoutSeconds",
        "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or "
        "inactivity.",
        "integer",
    ),
    "watch": _query_parameter(
        "watch",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove "
        "notifications. Specify resourceVersion.",
        "boolean",
    ),
    "gracePeriodSeconds": _query_parameter(
        "gracePeriodSeconds",
        "The duration in seconds before the object should be deleted. Value must be non-negative integer. The "
        "value zero indicates delete immediately. If this value is nil, the default grace period for the "
        "specified type will be used. Defaults to a per object value if not specified. zero means delete "
        "immediately.",
        "integer",
    ),
    "orphanDependents": _query_parameter(
        "orphanDependents",
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent "
        'objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from the object\'s '
        "finalizers list. Either this field or PropagationPolicy may be set, but not both.",
        "boolean",
    ),
    "propagationPolicy": _query_parameter(
        "propagationPolicy",
        "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, "
        "but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers "
        "and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; "
        "'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a "
        "cascading policy that deletes all dependents in the foreground.",
    ),
}


# --- schemas ---------------------------------------------------------------------------------------------


def _type_meta_properties() -> dict[str, Any]:
    return {
        "apiVersion": {"description": _API_VERSION_DESCRIPTION, "type": "string"},
        "kind": {"description": _KIND_DESCRIPTION, "type": "string"},
    }


def _kind_schema(resource: OpenAPIResource) -> dict[str, Any]:
    if resource.schema is None:
        schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    else:
        schema = copy.deepcopy(resource.schema)
        schema["type"] = "object"
        _publish_embedded_resources(schema)
    properties = schema.setdefault("properties", {})
    properties.update(_type_meta_properties())
    properties["metadata"] = _ref_property(OBJECT_META, _OBJECT_METADATA_DESCRIPTION)
    schema["properties"] = dict(sorted(properties.items()))
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource)]
    return schema


def _publish_embedded_resources(node: dict[str, Any]) -> None:
    """Give every embedded resource below the root the apiVersion/kind/metadata properties it implicitly has."""
    children = list((node.get("properties") or {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            children.append(node[key])
    for child in children:
        if child.get("x-kubernetes-embedded-resource"):
            properties = child.setdefault("properties", {})
            for name, prop in _type_meta_properties().items():
                properties.setdefault(name, prop)
            properties.setdefault("metadata", _ref_property(OBJECT_META, _OBJECT_METADATA_DESCRIPTION))
        _publish_embedded_resources(child)


def _list_schema(resource: OpenAPIResource) -> dict[str, Any]:
    kind_ref, _ = _kind_and_list_names(resource)
    list_kind = resource.kind + "List"
    return {
        "description": f"{list_kind} is a list of {resource.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            **_type_meta_properties(),
            "items": {
                "description": f"List of {resource.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/api-conventions.md",
                "type": "array",
                "items": _ref(kind_ref),
            },
            "metadata": _ref_property(LIST_META, _LIST_METADATA_DESCRIPTION),
        },
        "x-kubernetes-group-version-kind": [{"group": resource.group, "kind": list_kind, "version": resource.version}],
    }


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "string", **extra}


def _object(description: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "object", "properties": dict(sorted(properties.items())), **extra}


def _meta_schemas(group: str, version: str) -> dict[str, Any]:
    delete_options_gvks = [{"group": "", "kind": "DeleteOptions", "version": "v1"}]
    if group:
        delete_options_gvks.append({"group": group, "kind": "DeleteOptions", "version": version})
    return {
        OBJECT_META: _object_meta_schema(),
        LIST_META: _list_meta_schema(),
        f"{_META}.ManagedFieldsEntry": _managed_fields_entry_schema(),
        f"{_META}.OwnerReference": _owner_reference_schema(),
        f"{_META}.Time": _string(
            "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are "
            "provided for many of the factory methods that the time package offers.",
            format="date-time",
        ),
        f"{_META}.FieldsV1": {
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\n"
            "Each key is either a '.' representing the field itself, and will always map to an empty set, or a "
            "string representing a sub-field or item. The string will follow one of these four formats: 'f:<name>', "
            "'v:<value>', 'k:<keys>' or 'i:<index>'.",
            "type": "object",
        },
        STATUS: _status_schema(),
        f"{_META}.StatusDetails": _status_details_schema(),
        f"{_META}.StatusCause": _status_cause_schema(),
        DELETE_OPTIONS: _delete_options_schema(delete_options_gvks),
        f"{_META}.Preconditions": _object(
            "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
            {
                "resourceVersion": _string("Specifies the target ResourceVersion"),
                "uid": _string("Specifies the target UID."),
            },
        ),
        PATCH: {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
            "type": "object",
        },
    }


def _object_meta_schema() -> dict[str, Any]:
    string_map = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return _object(
        "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        {
            "annotations": {
                "description": "Annotations is an unstructured key value map stored with a resource that may be set "
                "by external tools to store and retrieve arbitrary metadata. They are not queryable and should be "
                "preserved when modifying objects. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations",
                **string_map,
            },
            "creationTimestamp": _ref_property(
                f"{_META}.Time",
                "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
                "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
                "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. "
                f"Null for lists. More info: {_CONVENTIONS}#metadata",
            ),
            "deletionGracePeriodSeconds": {
                "description": "Number of seconds allowed for this object to gracefully terminate before it will be "
                "removed from the system. Only set when deletionTimestamp is also set. May only be shortened. "
                "Read-only.",
                "type": "integer",
                "format": "int64",
            },
            "deletionTimestamp": _ref_property(
                f"{_META}.Time",
                "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. This field is "
                "set by the server when a graceful deletion is requested by the user, and is not directly settable "
                "by a client. The resource is expected to be deleted (no longer visible from resource lists, and not "
                "reachable by name) after the time in this field, once the finalizers list is empty.\n\nPopulated by "
                f"the system when a graceful deletion is requested. Read-only. More info: {_CONVENTIONS}#metadata",
            ),
            "finalizers": {
                "description": "Must be empty before the object is deleted from the registry. Each entry is an "
                "identifier for the responsible component that will remove the entry from the list. If the "
                "deletionTimestamp of the object is non-nil, entries in this list can only be removed. Finalizers "
                "may be processed and removed in any order.",
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
            },
            "generateName": _string(
                "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name "
                "field has not been provided. If this field is used, the name returned to the client will be "
                "different than the name passed. This value will also be combined with a unique suffix. The provided "
                "value has the same validation rules as the Name field, and may be truncated by the length of the "
                "suffix required to make the value unique on the server.\n\nApplied only if Name is not specified. "
                f"More info: {_CONVENTIONS}#idempotency"
            ),
            "generation": {
                "description": "A sequence number representing a specific generation of the desired state. "
                "Populated by the system. Read-only.",
                "type": "integer",
                "format": "int64",
            },
            "labels": {
                "description": "Map of string keys and values that can be used to organize and categorize (scope "
                "and select) objects. May match selectors of replication controllers and services. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels",
                **string_map,
            },
            "managedFields": {
                "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by "
                "that workflow. This is mostly for internal housekeeping, and users typically shouldn't need to set "
                "or understand this field. A workflow can be the user's name, a controller's name, or the name of a "
                'specific apply path like "ci-cd". The set of fields is always in the version that the workflow '
                "used when modifying the object.",
                "type": "array",
                "items": _ref(f"{_META}.ManagedFieldsEntry"),
                "x-kubernetes-list-type": "atomic",
            },
            "name": _string(
                "Name must be unique within a namespace. Is required when creating resources, although some "
                "resources may allow a client to request the generation of an appropriate name automatically. Name "
                "is primarily intended for creation idempotence and configuration definition. Cannot be updated. "
                "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
            ),
            "namespace": _string(
                "Namespace defines the space within which each name must be unique. An empty namespace is equivalent "
                'to the "default" namespace, but "default" is the canonical representation. Not all objects are '
                "required to be scoped to a namespace - the value of this field for those objects will be empty.\n\n"
                "Must be a DNS_LABEL. Cannot be updated. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces"
            ),
            "ownerReferences": {
                "description": "List of objects depended by this object. If ALL objects in the list have been "
                "deleted, this object will be garbage collected. If this object is managed by a controller, then an "
                "entry in this list will point to this controller, with the controller field set to true. There "
                "cannot be more than one managing controller.",
                "type": "array",
                "items": _ref(f"{_META}.OwnerReference"),
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
            "resourceVersion": _string(
                "An opaque value that represents the internal version of this object that can be used by clients to "
                "determine when objects have changed. May be used for optimistic concurrency, change detection, and "
                "the watch operation on a resource or set of resources. Clients must treat these values as opaque "
                "and passed unmodified back to the server. They may only be valid for a particular resource or set "
                "of resources.\n\nPopulated by the system. Read-only. Value must be treated as opaque by clients and "
                f". More info: {_CONVENTIONS}#concurrency-control-and-consistency"
            ),
            "selfLink": _string(
                "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."
            ),
            "uid": _string(
                "UID is the unique in time and space value for this object. It is typically generated by the server "
                "on successful creation of a resource and is not allowed to change on PUT operations.\n\nPopulated by "
                "the system. Read-only. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"
            ),
        },
    )


def _list_meta_schema() -> dict[str, Any]:
    return _object(
        "ListMeta describes metadata that synthetic resources must have, including lists and various status "
        "objects. A resource may have only one of {ObjectMeta, ListMeta}.",
        {
            "continue": _string(
                "continue may be set if the user set a limit on the number of items returned, and indicates that the "
                "server has more data available. The value is opaque and may be used to issue another request to the "
                "endpoint that served this list to retrieve the next set of available objects."
            ),
            "remainingItemCount": {
                "description": "remainingItemCount is the number of subsequent items in the list which are not "
                "included in this list response.",
                "type": "integer",
                "format": "int64",
            },
            "resourceVersion": _string(
                "String that identifies the server's internal version of this object that can be used by clients to "
                "determine when objects have changed. Value must be treated as opaque by clients and passed "
                f"unmodified back to the server. Populated by the system. Read-only. More info: "
                f"{_CONVENTIONS}#concurrency-control-and-consistency"
            ),
            "selfLink": _string(
                "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."
            ),
        },
    )


def _managed_fields_entry_schema() -> dict[str, Any]:
    return _object(
        "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset "
        "applies to.",
        {
            "apiVersion": _string(
                "APIVersion defines the version of this resource that this field set applies to. The format is "
                '"group/version" just like the top-level APIVersion field.'
            ),
            "fieldsType": _string(
                "FieldsType is the discriminator for the different fields format and version. There is currently only "
                'one possible value: "FieldsV1"'
            ),
            "fieldsV1": _ref_property(
                f"{_META}.FieldsV1", 'FieldsV1 holds the first JSON version format as described in the "FieldsV1" type.'
            ),
            "manager": _string("Manager is an identifier of the workflow managing these fields."),
            "operation": _string(
                "Operation is the type of operation which lead to this ManagedFieldsEntry being created. The only "
                "valid values for this field are 'Apply' and 'Update'."
            ),
            "subresource": _string(
                "Subresource is the name of the subresource used to update that object, or empty string if the object "
                "was updated through the main resource."
            ),
            "time": _ref_property(
                f"{_META}.Time",
                "Time is the timestamp of when the ManagedFields entry was added. The timestamp will also be updated "
                "if a field is added, the manager changes any of the owned fields value or removes a field.",
            ),
        },
    )


def _owner_reference_schema() -> dict[str, Any]:
    return _object(
        "OwnerReference contains enough information to let you identify an owning object. An owning object must be "
        "in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.",
        {
            "apiVersion": _string("API version of the referent."),
            "blockOwnerDeletion": {
                "description": 'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner '
                "cannot be deleted from the key-value store until this reference is removed.",
                "type": "boolean",
            },
            "controller": {
                "description": "If true, this reference points to the managing controller.",
                "type": "boolean",
            },
            "kind": _string(f"Kind of the referent. More info: {_CONVENTIONS}#types-kinds"),
            "name": _string(
                "Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
            ),
            "uid": _string(
                "UID of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"
            ),
        },
        required=["apiVersion", "kind", "name", "uid"],
        **{"x-kubernetes-map-type": "atomic"},
    )


def _status_schema() -> dict[str, Any]:
    return _object(
        "Status is a return value for calls that don't return other objects.",
        {
            **_type_meta_properties(),
            "code": {
                "description": "Suggested HTTP return code for this status, 0 if not set.",
                "type": "integer",
                "format": "int32",
            },
            "details": _ref_property(
                f"{_META}.StatusDetails",
                "Extended data associated with the reason.  Each reason may define its own extended details. This "
                "field is optional and the data returned is not guaranteed to conform to any schema except that "
                "defined by the reason type.",
            ),
            "message": _string("A human-readable description of the status of this operation."),
            "metadata": _ref_property(LIST_META, _LIST_METADATA_DESCRIPTION),
            "reason": _string(
                'A machine-readable description of why this operation is in the "Failure" status. If this value is '
                "empty there is no information available. A Reason clarifies an HTTP status code but does not "
                "override it."
            ),
            "status": _string(
                f'Status of the operation. One of: "Success" or "Failure". More info: {_CONVENTIONS}#spec-and-status'
            ),
        },
        **{"x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}]},
    )


def _status_details_schema() -> dict[str, Any]:
    return _object(
        "StatusDetails is a set of additional properties that MAY be set by the server to provide additional "
        "information about a response. The Reason field of a Status object defines what attributes will be set. "
        "Clients must ignore fields that do not match the defined type of each attribute, and should assume that "
        "any attribute may be empty, invalid, or under defined.",
        {
            "causes": {
                "description": "The Causes array includes more details associated with the StatusReason failure. Not "
                "all StatusReasons may provide detailed causes.",
                "type": "array",
                "items": _ref(f"{_META}.StatusCause"),
                "x-kubernetes-list-type": "atomic",
            },
            "group": _string("The group attribute of the resource associated with the status StatusReason."),
            "kind": _string(
                "The kind attribute of the resource associated with the status StatusReason. On some operations may "
                f"differ from the requested resource Kind. More info: {_CONVENTIONS}#types-kinds"
            ),
            "name": _string(
                "The name attribute of the resource associated with the status StatusReason (when there is a single "
                "name which can be described)."
            ),
            "retryAfterSeconds": {
                "description": "If specified, the time in seconds before the operation should be retried. Some "
                "errors may indicate the client must take an alternate action - for those errors this field may "
                "indicate how long to wait before taking the alternate action.",
                "type": "integer",
                "format": "int32",
            },
            "uid": _string(
                "UID of the resource. (when there is a single resource which can be described). More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"
            ),
        },
    )


def _status_cause_schema() -> dict[str, Any]:
    return _object(
        "StatusCause provides more information about an api.Status failure, including cases when multiple errors "
        "are encountered.",
        {
            "field": _string(
                "The field of the resource that has caused this error, as named by its JSON serialization. May "
                "include dot and postfix notation for nested attributes. Arrays are zero-indexed.  Fields may appear "
                "more than once in an array of causes due to fields having multiple errors. Optional."
            ),
            "message": _string(
                "A human-readable description of the cause of the error.  This field may be presented as-is to a "
                "reader."
            ),
            "reason": _string(
                "A machine-readable description of the cause of the error. If this value is empty there is no "
                "information available."
            ),
        },
    )


def _delete_options_schema(gvks: list[dict[str, str]]) -> dict[str, Any]:
    return _object(
        "DeleteOptions may be provided when deleting an API object.",
        {
            **_type_meta_properties(),
            "dryRun": {
                "description": "When present, indicates that modifications should not be persisted. An invalid or "
                "unrecognized dryRun directive will result in an error response and no further processing of the "
                "request. Valid values are: - All: all dry run stages will be processed",
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "atomic",
            },
            "gracePeriodSeconds": {
                "description": _PARAMETERS["gracePeriodSeconds"]["description"],
                "type": "integer",
                "format": "int64",
            },
            "orphanDependents": {"description": _PARAMETERS["orphanDependents"]["description"], "type": "boolean"},
            "preconditions": _ref_property(
                f"{_META}.Preconditions",
                "Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be "
                "returned.",
            ),
            "propagationPolicy": _string(_PARAMETERS["propagationPolicy"]["description"]),
        },
        **{"x-kubernetes-group-version-kind": gvks},
    )


def _scale_schemas() -> dict[str, Any]:
    return {
        SCALE: _object(
            "Scale represents a scaling request for a resource.",
            {
                **_type_meta_properties(),
                "metadata": _ref_property(OBJECT_META, _OBJECT_METADATA_DESCRIPTION),
                "spec": _ref_property(
                    "io.k8s.api.autoscaling.v1.ScaleSpec",
                    f"spec defines the behavior of the scale. More info: {_CONVENTIONS}#spec-and-status.",
                ),
                "status": _ref_property(
                    "io.k8s.api.autoscaling.v1.ScaleStatus",
                    f"status is the current status of the scale. More info: {_CONVENTIONS}#spec-and-status. Read-only.",
                ),
            },
            **{"x-kubernetes-group-version-kind": [dict(_SCALE_GVK)]},
        ),
        "io.k8s.api.autoscaling.v1.ScaleSpec": _object(
            "ScaleSpec describes the attributes of a scale subresource.",
            {
                "replicas": {
                    "description": "replicas is the desired number of instances for the scaled object.",
                    "type": "integer",
                    "format": "int32",
                }
            },
        ),
        "io.k8s.api.autoscaling.v1.ScaleStatus": _object(
            "ScaleStatus represents the current status of a scale subresource.",
            {
                "replicas": {
                    "description": "replicas is the actual number of observed instances of the scaled object.",
                    "type": "integer",
                    "format": "int32",
                    "default": 0,
                },
                "selector": _string(
                    "selector is the label query over pods that should match the replicas count. This is same as the "
                    "label selector but in the string format to avoid introspection by clients. The string will be in "
                    "the same format as the query-param syntax. More info about label selectors: "
                    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/"
                ),
            },
            required=["replicas"],
        ),
    }
