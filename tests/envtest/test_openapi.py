"""OpenAPI v3 documents: what kubectl relies on (fieldValidation on PATCH, GVK extensions, descriptions for
`kubectl explain`) and the real server's naming of paths, operations and schemas."""

from __future__ import annotations

import copy
import json
from typing import Any

from k0smotron_core.envtest._openapi import (
    OpenAPIResource,
    document_hash,
    openapi_v3_document,
    openapi_v3_path,
    openapi_v3_root,
    schema_name,
)

GROUP = "controlplane.cluster.x-k8s.io"
VERSION = "v1beta1"
CRD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "K0sControlPlane is the Schema for the k0scontrolplanes API",
    "properties": {
        "spec": {
            "type": "object",
            "description": "K0sControlPlaneSpec defines the desired state of K0sControlPlane",
            "properties": {
                "replicas": {
                    "type": "integer",
                    "format": "int32",
                    "description": "Replicas is the number of machines.",
                },
                "ports": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
                "machineTemplate": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
        "status": {"type": "object", "description": "K0sControlPlaneStatus defines the observed state"},
    },
}
CONTROL_PLANE = OpenAPIResource(
    GROUP, VERSION, "K0sControlPlane", "k0scontrolplanes", True, CRD_SCHEMA, frozenset({"status", "scale"})
)
CLUSTER_SCOPED = OpenAPIResource(
    "infrastructure.cluster.x-k8s.io", "v1", "Host", "hosts", False, {"type": "object"}, frozenset()
)
SECRET = OpenAPIResource("", "v1", "Secret", "secrets", True, None, frozenset())

BASE = f"/apis/{GROUP}/{VERSION}"
COLLECTION = f"{BASE}/namespaces/{{namespace}}/k0scontrolplanes"
ITEM = f"{COLLECTION}/{{name}}"
KIND_SCHEMA = f"io.x-k8s.cluster.controlplane.{VERSION}.K0sControlPlane"


def document() -> dict[str, Any]:
    return openapi_v3_document(GROUP, VERSION, [CONTROL_PLANE])


def parameter_names(operation: dict[str, Any]) -> list[str]:
    return [parameter["name"] for parameter in operation.get("parameters", [])]


def test_the_root_lists_each_group_version_with_its_hash() -> None:
    root = openapi_v3_root([("apps", "v1"), ("", "v1")], {"api/v1": "AAA", "apis/apps/v1": "BBB"})
    assert root == {
        "paths": {
            "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=AAA"},
            "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=BBB"},
        }
    }


def test_the_core_group_lives_under_api_and_others_under_apis() -> None:
    assert openapi_v3_path("", "v1") == "api/v1"
    assert openapi_v3_path(GROUP, VERSION) == f"apis/{GROUP}/{VERSION}"


def test_a_namespaced_resource_has_collection_item_subresource_and_all_namespaces_paths() -> None:
    assert sorted(document()["paths"]) == [
        f"{BASE}/k0scontrolplanes",
        COLLECTION,
        ITEM,
        f"{ITEM}/scale",
        f"{ITEM}/status",
    ]


def test_a_cluster_scoped_resource_has_no_namespace_in_its_paths() -> None:
    doc = openapi_v3_document(CLUSTER_SCOPED.group, CLUSTER_SCOPED.version, [CLUSTER_SCOPED])
    base = "/apis/infrastructure.cluster.x-k8s.io/v1/hosts"
    assert sorted(doc["paths"]) == [base, base + "/{name}"]
    assert doc["paths"][base]["get"]["operationId"] == "listInfrastructureClusterXK8sIoV1Host"
    assert "namespace" not in parameter_names(doc["paths"][base + "/{name}"])


def test_operations_carry_the_verbs_actions_and_ids_of_the_real_server() -> None:
    paths = document()["paths"]
    found = {
        (path, method): (operation["operationId"], operation["x-kubernetes-action"])
        for path, item in paths.items()
        for method, operation in item.items()
        if method != "parameters"
    }
    prefix = "ControlplaneClusterXK8sIoV1beta1"
    assert found == {
        (COLLECTION, "get"): (f"list{prefix}NamespacedK0sControlPlane", "list"),
        (COLLECTION, "post"): (f"create{prefix}NamespacedK0sControlPlane", "post"),
        (COLLECTION, "delete"): (f"delete{prefix}CollectionNamespacedK0sControlPlane", "deletecollection"),
        (ITEM, "get"): (f"read{prefix}NamespacedK0sControlPlane", "get"),
        (ITEM, "put"): (f"replace{prefix}NamespacedK0sControlPlane", "put"),
        (ITEM, "patch"): (f"patch{prefix}NamespacedK0sControlPlane", "patch"),
        (ITEM, "delete"): (f"delete{prefix}NamespacedK0sControlPlane", "delete"),
        (f"{ITEM}/status", "get"): (f"read{prefix}NamespacedK0sControlPlaneStatus", "get"),
        (f"{ITEM}/status", "put"): (f"replace{prefix}NamespacedK0sControlPlaneStatus", "put"),
        (f"{ITEM}/status", "patch"): (f"patch{prefix}NamespacedK0sControlPlaneStatus", "patch"),
        (f"{ITEM}/scale", "get"): (f"read{prefix}NamespacedK0sControlPlaneScale", "get"),
        (f"{ITEM}/scale", "put"): (f"replace{prefix}NamespacedK0sControlPlaneScale", "put"),
        (f"{ITEM}/scale", "patch"): (f"patch{prefix}NamespacedK0sControlPlaneScale", "patch"),
        (f"{BASE}/k0scontrolplanes", "get"): (f"list{prefix}K0sControlPlaneForAllNamespaces", "list"),
    }


def test_operations_are_tagged_with_the_group_version() -> None:
    assert document()["paths"][ITEM]["get"]["tags"] == ["controlplaneClusterXK8sIo_v1beta1"]


def test_patch_lists_field_validation_dry_run_field_manager_and_force() -> None:
    assert parameter_names(document()["paths"][ITEM]["patch"]) == ["dryRun", "fieldManager", "fieldValidation", "force"]


def test_put_and_post_list_field_validation_but_not_force() -> None:
    paths = document()["paths"]
    for operation in (paths[ITEM]["put"], paths[COLLECTION]["post"]):
        assert parameter_names(operation) == ["dryRun", "fieldManager", "fieldValidation"]


def test_every_patch_operation_of_the_kind_offers_field_validation_as_kubectl_checks() -> None:
    gvk = {"group": GROUP, "kind": "K0sControlPlane", "version": VERSION}
    patches = [item["patch"] for item in document()["paths"].values() if "patch" in item]
    of_the_kind = [patch for patch in patches if patch["x-kubernetes-group-version-kind"] == gvk]
    assert len(of_the_kind) == 2  # the object and its status
    assert all("fieldValidation" in parameter_names(patch) for patch in of_the_kind)


def test_the_scale_subresource_speaks_autoscaling_v1_scale() -> None:
    doc = document()
    patch = doc["paths"][f"{ITEM}/scale"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert patch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    }
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]


def test_custom_resources_are_not_offered_strategic_merge_patch_but_built_ins_are() -> None:
    crd_patch = document()["paths"][ITEM]["patch"]["requestBody"]["content"]
    assert "application/strategic-merge-patch+json" not in crd_patch
    assert "application/apply-patch+yaml" in crd_patch
    secret_patch = openapi_v3_document("", "v1", [SECRET])["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]
    assert "application/strategic-merge-patch+json" in secret_patch["patch"]["requestBody"]["content"]


def test_path_parameters_are_declared_on_the_path() -> None:
    assert parameter_names(document()["paths"][ITEM]) == ["name", "namespace", "pretty"]
    assert parameter_names(document()["paths"][COLLECTION]) == ["namespace", "pretty"]


def test_list_operations_offer_the_list_and_watch_parameters() -> None:
    names = parameter_names(document()["paths"][COLLECTION]["get"])
    assert {"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"} <= set(names)


def test_schemas_are_named_after_the_reversed_group_domain() -> None:
    assert schema_name(GROUP, VERSION, "K0sControlPlane") == KIND_SCHEMA
    assert {KIND_SCHEMA, KIND_SCHEMA + "List"} <= set(document()["components"]["schemas"])


def test_built_in_kinds_are_named_after_their_api_packages() -> None:
    assert schema_name("", "v1", "Secret") == "io.k8s.api.core.v1.Secret"
    assert schema_name("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert schema_name("batch", "v1", "Job") == "io.k8s.api.batch.v1.Job"
    assert schema_name("coordination.k8s.io", "v1", "Lease") == "io.k8s.api.coordination.v1.Lease"
    assert schema_name("networking.k8s.io", "v1", "Ingress") == "io.k8s.api.networking.v1.Ingress"
    assert schema_name("rbac.authorization.k8s.io", "v1", "Role") == "io.k8s.api.rbac.v1.Role"
    assert (
        schema_name("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration")
        == "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration"
    )
    assert schema_name("events.k8s.io", "v1", "Event") == "io.k8s.api.events.v1.Event"
    assert (
        schema_name("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        == "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    )


def test_kind_and_list_schemas_carry_their_group_version_kind() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas[KIND_SCHEMA]["x-kubernetes-group-version-kind"] == [
        {"group": GROUP, "kind": "K0sControlPlane", "version": VERSION}
    ]
    assert schemas[KIND_SCHEMA + "List"]["x-kubernetes-group-version-kind"] == [
        {"group": GROUP, "kind": "K0sControlPlaneList", "version": VERSION}
    ]


def test_metadata_refers_to_object_meta_which_describes_its_fields() -> None:
    schemas = document()["components"]["schemas"]
    metadata = schemas[KIND_SCHEMA]["properties"]["metadata"]
    assert metadata["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    object_meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    for field in ("name", "namespace", "labels", "annotations", "uid", "resourceVersion", "finalizers"):
        assert object_meta[field]["description"]


def test_api_version_and_kind_have_the_standard_descriptions() -> None:
    properties = document()["components"]["schemas"][KIND_SCHEMA]["properties"]
    assert properties["apiVersion"]["description"].startswith("APIVersion defines the versioned schema")
    assert properties["kind"]["description"].startswith("Kind is a string value representing the REST resource")


def test_crd_descriptions_and_vendor_extensions_are_preserved() -> None:
    schema = document()["components"]["schemas"][KIND_SCHEMA]
    spec = schema["properties"]["spec"]
    assert schema["description"] == "K0sControlPlane is the Schema for the k0scontrolplanes API"
    assert spec["description"] == "K0sControlPlaneSpec defines the desired state of K0sControlPlane"
    assert spec["properties"]["replicas"]["description"] == "Replicas is the number of machines."
    assert spec["properties"]["ports"]["x-kubernetes-list-map-keys"] == ["name"]
    assert schema["properties"]["status"]["description"] == "K0sControlPlaneStatus defines the observed state"


def test_embedded_resources_gain_their_implicit_type_meta_properties() -> None:
    template = document()["components"]["schemas"][KIND_SCHEMA]["properties"]["spec"]["properties"]["machineTemplate"]
    assert {"apiVersion", "kind", "metadata"} <= set(template["properties"])
    assert template["x-kubernetes-embedded-resource"] is True


def test_built_in_kinds_get_a_permissive_object_schema() -> None:
    doc = openapi_v3_document("", "v1", [SECRET])
    secret = doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"]
    assert secret["x-kubernetes-preserve-unknown-fields"] is True
    assert secret["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Secret", "version": "v1"}]
    assert doc["paths"]["/api/v1/namespaces/{namespace}/secrets"]["get"]["operationId"] == "listCoreV1NamespacedSecret"
    assert doc["info"]["title"] == "Kubernetes"


def test_crd_group_documents_are_titled_like_the_real_crd_documents() -> None:
    assert document()["info"] == {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}
    assert document()["openapi"] == "3.0.0"


def test_the_document_does_not_change_the_crd_schema_it_was_given() -> None:
    before = copy.deepcopy(CRD_SCHEMA)
    document()
    assert before == CRD_SCHEMA


def test_documents_are_json_serialisable() -> None:
    doc = openapi_v3_document(GROUP, VERSION, [CONTROL_PLANE, CLUSTER_SCOPED, SECRET])
    assert json.loads(json.dumps(doc)) == doc


def test_the_hash_is_upper_case_sha512_hex_and_stable() -> None:
    digest = document_hash(document())
    assert len(digest) == 128 and digest == digest.upper()
    assert int(digest, 16) >= 0
    assert document_hash(document()) == digest


def test_the_hash_changes_when_the_document_changes() -> None:
    changed = OpenAPIResource(
        GROUP, VERSION, "K0sControlPlane", "k0scontrolplanes", True, {"type": "object"}, frozenset()
    )
    assert document_hash(openapi_v3_document(GROUP, VERSION, [changed])) != document_hash(document())


def test_documents_share_no_mutable_parts() -> None:
    first, second = document(), document()
    first["paths"][ITEM]["parameters"][-1]["description"] = "changed"
    first["paths"][ITEM]["patch"]["parameters"][0]["description"] = "changed"
    assert second == document()
