"""The official kubernetes client against envtest: strategic merge patches of a Deployment's containers (merged
by name), JSON merge patches (null deletes a key), JSON patches (a failing `test` is 422) and the patch types
custom resources accept."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiException

from ._kube import (
    GROUP,
    JSON_PATCH,
    MERGE_PATCH,
    PLURAL,
    STRATEGIC_MERGE_PATCH,
    VERSION,
    Clients,
    configmap,
    status_of,
    widget,
)

REJECTED = "the server rejected our request due to an error in our request"


def _deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}},
        },
    }


@pytest.fixture
def deployment(kube: Clients) -> None:
    kube.apps.create_namespaced_deployment("default", _deployment(
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ))


def _containers(kube: Clients) -> list[tuple[str, str]]:
    dep = kube.apps.read_namespaced_deployment("web", "default")
    return [(c.name, c.image) for c in dep.spec.template.spec.containers]


def _patch_deployment(kube: Clients, body: Any, content_type: str) -> Any:
    return kube.apps.patch_namespaced_deployment("web", "default", body, _content_type=content_type)


def _containers_patch(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


def _failure(call: Any, *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value


# --- strategic merge patch ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("deployment")
def test_a_strategic_merge_patch_merges_containers_by_name(kube: Clients) -> None:
    _patch_deployment(kube, _containers_patch({"name": "web", "image": "nginx:1.28"}), STRATEGIC_MERGE_PATCH)

    assert _containers(kube) == [("web", "nginx:1.28"), ("sidecar", "busybox:1.36")]
    ports = kube.apps.read_namespaced_deployment("web", "default").spec.template.spec.containers[0].ports
    assert [p.container_port for p in ports] == [80]


@pytest.mark.usefixtures("deployment")
def test_a_strategic_merge_patch_puts_a_container_with_a_new_name_before_the_existing_ones(kube: Clients) -> None:
    _patch_deployment(kube, _containers_patch({"name": "logger", "image": "fluent-bit:3"}), STRATEGIC_MERGE_PATCH)

    # Without $setElementOrder, patch items not in the live list sort ahead of the server-only items.
    assert _containers(kube) == [("logger", "fluent-bit:3"), ("web", "nginx:1.27"), ("sidecar", "busybox:1.36")]


@pytest.mark.usefixtures("deployment")
def test_a_strategic_merge_patch_delete_directive_removes_the_named_container(kube: Clients) -> None:
    _patch_deployment(kube, _containers_patch({"name": "sidecar", "$patch": "delete"}), STRATEGIC_MERGE_PATCH)

    assert _containers(kube) == [("web", "nginx:1.27")]


@pytest.mark.usefixtures("deployment")
def test_a_strategic_merge_patch_with_set_element_order_reorders_the_containers(kube: Clients) -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
        "containers": [{"name": "web", "image": "nginx:1.28"}],
    }}}}

    _patch_deployment(kube, patch, STRATEGIC_MERGE_PATCH)

    assert _containers(kube) == [("sidecar", "busybox:1.36"), ("web", "nginx:1.28")]


@pytest.mark.usefixtures("deployment")
def test_a_strategic_merge_patch_of_the_template_bumps_the_deployment_generation(kube: Clients) -> None:
    patched = _patch_deployment(kube, _containers_patch({"name": "web", "image": "nginx:1.28"}),
                                STRATEGIC_MERGE_PATCH)

    assert patched.metadata.generation == 2


@pytest.mark.usefixtures("deployment")
def test_a_json_merge_patch_replaces_the_containers_list_whole(kube: Clients) -> None:
    _patch_deployment(kube, _containers_patch({"name": "web", "image": "nginx:1.28"}), MERGE_PATCH)

    assert _containers(kube) == [("web", "nginx:1.28")]


def test_creating_a_deployment_applies_the_server_defaults(kube: Clients) -> None:
    created = kube.apps.create_namespaced_deployment("default", _deployment({"name": "web", "image": "nginx:1.27"}))

    spec = created.spec
    assert spec.strategy.type == "RollingUpdate"
    assert (spec.strategy.rolling_update.max_surge, spec.strategy.rolling_update.max_unavailable) == ("25%", "25%")
    assert spec.revision_history_limit == 10
    assert spec.progress_deadline_seconds == 600
    pod = spec.template.spec
    assert (pod.restart_policy, pod.dns_policy, pod.termination_grace_period_seconds) == ("Always", "ClusterFirst", 30)
    container = pod.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.termination_message_path == "/dev/termination-log"


# --- JSON merge patch ---------------------------------------------------------------------------------------


def test_a_merge_patch_with_null_deletes_a_configmap_key(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c", data={"a": "1", "b": "2"}))

    patched = kube.core.patch_namespaced_config_map("c", "default", {"data": {"b": None, "c": "3"}},
                                                    _content_type=MERGE_PATCH)

    assert patched.data == {"a": "1", "c": "3"}


def test_a_merge_patch_with_null_deletes_a_widget_field(kube: Clients) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w", port=8080))

    patched = kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w",
                                                         {"spec": {"port": None}}, _content_type=MERGE_PATCH)

    assert patched["spec"] == {"mode": "tunnel", "replicas": 1}


def test_a_merge_patch_with_null_replicas_gets_the_schema_default_back(kube: Clients) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w", replicas=5))

    patched = kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w",
                                                         {"spec": {"replicas": None}}, _content_type=MERGE_PATCH)

    assert patched["spec"]["replicas"] == 1


def test_a_merge_patch_with_a_stale_resource_version_fails_with_409_conflict(kube: Clients) -> None:
    stale = kube.core.create_namespaced_config_map("default", configmap("c")).metadata.resource_version
    kube.core.patch_namespaced_config_map("c", "default", {"data": {"key": "2"}}, _content_type=MERGE_PATCH)

    error = _failure(kube.core.patch_namespaced_config_map, "c", "default",
                     {"metadata": {"resourceVersion": stale}, "data": {"key": "3"}}, _content_type=MERGE_PATCH)

    assert (error.status, status_of(error)["reason"]) == (409, "Conflict")


# --- JSON patch ---------------------------------------------------------------------------------------------


def test_a_json_patch_applies_its_operations_in_order(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c", data={"a": "1"}))

    patched = kube.core.patch_namespaced_config_map("c", "default", [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "remove", "path": "/data/a"},
    ], _content_type=JSON_PATCH)

    assert patched.data == {"b": "2"}


def test_a_json_patch_whose_test_fails_is_rejected_with_422_and_changes_nothing(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c", data={"a": "1"}))

    error = _failure(kube.core.patch_namespaced_config_map, "c", "default", [
        {"op": "test", "path": "/data/a", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "3"},
    ], _content_type=JSON_PATCH)

    body = status_of(error)
    assert (error.status, body["reason"], body["message"], body["details"]) == (422, "Invalid", REJECTED, {})
    assert kube.core.read_namespaced_config_map("c", "default").data == {"a": "1"}


def test_a_json_patch_removing_a_missing_path_is_rejected_with_422(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))

    error = _failure(kube.core.patch_namespaced_config_map, "c", "default",
                     [{"op": "remove", "path": "/data/missing"}], _content_type=JSON_PATCH)

    assert (error.status, status_of(error)["message"]) == (422, REJECTED)


def test_a_json_patch_of_a_widget_is_validated_against_the_schema(kube: Clients) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w"))

    error = _failure(kube.custom.patch_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "w",
                     [{"op": "replace", "path": "/spec/mode", "value": "tunel"}], _content_type=JSON_PATCH)

    body = status_of(error)
    assert (error.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('Widget.example.com "w" is invalid: spec.mode: Unsupported value: "tunel": '
                               'supported values: "tunnel", "proxy"')


# --- patch types --------------------------------------------------------------------------------------------


def test_a_strategic_merge_patch_of_a_widget_is_refused_with_415(kube: Clients) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w"))

    error = _failure(kube.custom.patch_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "w",
                     {"spec": {"port": 1}}, _content_type=STRATEGIC_MERGE_PATCH)

    body = status_of(error)
    assert (error.status, body["reason"]) == (415, "UnsupportedMediaType")
    assert body["message"] == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")


def test_a_patch_with_an_unknown_content_type_is_refused_with_415(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))

    error = _failure(kube.core.patch_namespaced_config_map, "c", "default", {"data": {}},
                     _content_type="application/json")

    body = status_of(error)
    assert (error.status, body["reason"]) == (415, "UnsupportedMediaType")
    assert body["message"] == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/strategic-merge-patch+json, application/apply-patch+yaml")
