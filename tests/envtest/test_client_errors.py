"""The official kubernetes client against envtest: the API errors (status code, reason, message, details) of
conflicts, existing and missing objects, missing namespaces, invalid objects and failed preconditions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from k0smotron_core.envtest import EnvTest

from ._kube import GROUP, PLURAL, VERSION, Clients, clients_for, configmap, status_of, widget

OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again"


def _create_widget(kube: Clients, name: str = "x", **spec: Any) -> dict[str, Any]:
    created: dict[str, Any] = kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                                          widget(name, **spec))
    return created


def _failure(call: Any, *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value


def _status(error: ApiException) -> tuple[int, str, str, dict[str, Any] | None]:
    body = status_of(error)
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == error.status
    return error.status, body["reason"], body["message"], body.get("details")


# --- conflicts ----------------------------------------------------------------------------------------------


def test_replacing_a_widget_with_a_stale_resource_version_fails_with_409_conflict(kube: Clients) -> None:
    stale = _create_widget(kube)
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "x", {"spec": {"port": 80}},
                                               _content_type="application/merge-patch+json")
    stale["spec"]["mode"] = "proxy"

    error = _failure(kube.custom.replace_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "x", stale)

    assert _status(error) == (409, "Conflict",
                              f'Operation cannot be fulfilled on widgets.example.com "x": {OPTIMISTIC_LOCK}',
                              {"name": "x", "group": "example.com", "kind": "widgets"})


def test_replacing_a_configmap_with_a_stale_resource_version_fails_with_409_conflict(kube: Clients) -> None:
    stale = kube.core.create_namespaced_config_map("default", configmap("c"))
    kube.core.replace_namespaced_config_map("c", "default", configmap("c", data={"key": "changed"}))
    stale.data = {"key": "other"}

    error = _failure(kube.core.replace_namespaced_config_map, "c", "default", stale)

    assert _status(error) == (409, "Conflict", f'Operation cannot be fulfilled on configmaps "c": {OPTIMISTIC_LOCK}',
                              {"name": "c", "kind": "configmaps"})


def test_replacing_a_widget_without_a_resource_version_is_invalid(kube: Clients) -> None:
    _create_widget(kube)

    error = _failure(kube.custom.replace_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "x",
                     widget("x", mode="proxy"))

    code, reason, message, details = _status(error)
    assert (code, reason) == (422, "Invalid")
    assert message == ('widgets.example.com "x" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                       "must be specified for an update")
    assert details is not None
    assert details["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                  "message": "Invalid value: 0x0: must be specified for an update"}]


def test_replacing_a_configmap_without_a_resource_version_updates_it_unconditionally(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))

    replaced = kube.core.replace_namespaced_config_map("c", "default", configmap("c", data={"key": "new"}))

    assert replaced.data == {"key": "new"}


def test_creating_a_widget_whose_name_exists_fails_with_409_already_exists(kube: Clients) -> None:
    _create_widget(kube)

    error = _failure(kube.custom.create_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, widget("x"))

    assert _status(error) == (409, "AlreadyExists", 'widgets.example.com "x" already exists',
                              {"name": "x", "group": "example.com", "kind": "widgets"})


def test_creating_a_configmap_whose_name_exists_fails_with_409_already_exists(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))

    error = _failure(kube.core.create_namespaced_config_map, "default", configmap("c"))

    assert _status(error) == (409, "AlreadyExists", 'configmaps "c" already exists',
                              {"name": "c", "kind": "configmaps"})


# --- missing objects and namespaces -------------------------------------------------------------------------


def test_getting_a_missing_widget_fails_with_404_not_found_and_details(kube: Clients) -> None:
    error = _failure(kube.custom.get_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "missing")

    assert _status(error) == (404, "NotFound", 'widgets.example.com "missing" not found',
                              {"name": "missing", "group": "example.com", "kind": "widgets"})


def test_getting_a_missing_configmap_fails_with_404_not_found_and_details(kube: Clients) -> None:
    error = _failure(kube.core.read_namespaced_config_map, "missing", "default")

    assert _status(error) == (404, "NotFound", 'configmaps "missing" not found',
                              {"name": "missing", "kind": "configmaps"})


def test_getting_a_configmap_in_a_missing_namespace_fails_with_the_configmap_not_found(kube: Clients) -> None:
    error = _failure(kube.core.read_namespaced_config_map, "c", "nope")

    assert _status(error) == (404, "NotFound", 'configmaps "c" not found', {"name": "c", "kind": "configmaps"})


def test_listing_configmaps_of_a_missing_namespace_returns_an_empty_list(kube: Clients) -> None:
    assert kube.core.list_namespaced_config_map("nope").items == []


def test_creating_a_configmap_in_a_missing_namespace_fails_with_404_namespace_not_found(kube: Clients) -> None:
    error = _failure(kube.core.create_namespaced_config_map, "nope", configmap("c"))

    assert _status(error) == (404, "NotFound", 'namespaces "nope" not found', {"name": "nope", "kind": "namespaces"})


def test_creating_a_widget_in_a_missing_namespace_fails_with_404_namespace_not_found(kube: Clients) -> None:
    error = _failure(kube.custom.create_namespaced_custom_object, GROUP, VERSION, "nope", PLURAL, widget("x"))

    assert _status(error) == (404, "NotFound", 'namespaces "nope" not found', {"name": "nope", "kind": "namespaces"})


def test_deleting_a_missing_widget_fails_with_404_not_found(kube: Clients) -> None:
    error = _failure(kube.custom.delete_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "missing")

    assert _status(error)[:3] == (404, "NotFound", 'widgets.example.com "missing" not found')


def test_patching_a_missing_configmap_fails_with_404_not_found(kube: Clients) -> None:
    error = _failure(kube.core.patch_namespaced_config_map, "missing", "default", {"data": {"a": "b"}},
                     _content_type="application/merge-patch+json")

    assert _status(error)[:3] == (404, "NotFound", 'configmaps "missing" not found')


def test_a_missing_resource_type_fails_with_404_and_the_generic_message(kube: Clients) -> None:
    error = _failure(kube.custom.list_namespaced_custom_object, GROUP, VERSION, "default", "gizmos")

    assert _status(error) == (404, "NotFound", "the server could not find the requested resource", {})


# --- invalid objects ----------------------------------------------------------------------------------------


def test_creating_an_invalid_widget_fails_with_422_invalid_and_one_cause_per_field(kube: Clients) -> None:
    error = _failure(kube.custom.create_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                     widget("bad", mode="tunel", replicas=-1))

    code, reason, message, details = _status(error)
    assert (code, reason) == (422, "Invalid")
    assert message.startswith('Widget.example.com "bad" is invalid: [')
    assert details is not None
    assert (details["name"], details["group"], details["kind"]) == ("bad", "example.com", "Widget")
    assert sorted(details["causes"], key=lambda c: c["field"]) == [
        {"reason": "FieldValueNotSupported", "field": "spec.mode",
         "message": 'Unsupported value: "tunel": supported values: "tunnel", "proxy"'},
        {"reason": "FieldValueInvalid", "field": "spec.replicas",
         "message": "Invalid value: -1: spec.replicas in body should be greater than or equal to 0"},
    ]


def test_creating_a_configmap_with_an_invalid_name_fails_with_422_invalid(kube: Clients) -> None:
    error = _failure(kube.core.create_namespaced_config_map, "default", configmap("Not_Valid"))

    code, reason, message, details = _status(error)
    assert (code, reason) == (422, "Invalid")
    assert message.startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": '
                              "a lowercase RFC 1123 subdomain must consist of")
    assert details is not None
    assert details["kind"] == "ConfigMap"
    assert [c["field"] for c in details["causes"]] == ["metadata.name"]


def test_creating_a_configmap_without_a_name_fails_with_name_or_generate_name_required(kube: Clients) -> None:
    body = configmap("x")
    del body["metadata"]["name"]

    error = _failure(kube.core.create_namespaced_config_map, "default", body)

    assert _status(error)[:3] == (422, "Invalid", 'ConfigMap "" is invalid: metadata.name: Required value: '
                                                  "name or generateName is required")


def test_an_unsupported_field_validation_value_is_rejected_as_invalid_create_options(kube: Clients) -> None:
    error = _failure(kube.core.create_namespaced_config_map, "default", configmap("c"), field_validation="Bogus")

    assert _status(error)[:3] == (422, "Invalid", 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: '
                                  'Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"')


# --- preconditions ------------------------------------------------------------------------------------------


def test_deleting_with_a_wrong_uid_precondition_fails_with_409_conflict(kube: Clients) -> None:
    uid = _create_widget(kube)["metadata"]["uid"]

    error = _failure(kube.custom.delete_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "x",
                     body={"preconditions": {"uid": "not-the-uid"}})

    assert _status(error)[:3] == (409, "Conflict", 'Operation cannot be fulfilled on widgets.example.com "x": '
                                  f"Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}")
    kube.custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "x")


def test_deleting_with_a_stale_resource_version_precondition_fails_with_409_conflict(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))
    current = kube.core.read_namespaced_config_map("c", "default").metadata.resource_version

    error = _failure(kube.core.delete_namespaced_config_map, "c", "default",
                     body={"preconditions": {"resourceVersion": "1"}})

    assert _status(error)[:3] == (409, "Conflict", 'Operation cannot be fulfilled on configmaps "c": Precondition '
                                  f"failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: "
                                  f"{current}")


def test_an_unknown_token_is_rejected_with_401_unauthorized(envtest: EnvTest, tmp_path: Path) -> None:
    clients = clients_for(envtest.write_kubeconfig(tmp_path / "bad-kubeconfig", token="not-a-token"))
    try:
        error = _failure(clients.core.list_namespaced_config_map, "default")
    finally:
        clients.close()

    assert _status(error) == (401, "Unauthorized", "Unauthorized", None)
