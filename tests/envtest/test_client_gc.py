"""The official kubernetes client against envtest: garbage collection of owned objects with the Background
(default), Orphan and Foreground propagation policies, blockOwnerDeletion, and what DELETE answers."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiException

from ._kube import (
    GROUP,
    MERGE_PATCH,
    PLURAL,
    VERSION,
    Clients,
    configmap,
    eventually,
    status_of,
    widget,
)

HOLD = "example.com/hold"


def _owner(kube: Clients, name: str = "owner", **kwargs: Any) -> dict[str, Any]:
    created: dict[str, Any] = kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                                          widget(name, **kwargs))
    return created


def _dependent(kube: Clients, owner: dict[str, Any], name: str = "dependent", **kwargs: Any) -> None:
    kube.core.create_namespaced_config_map("default", configmap(name, owner=owner, **kwargs))


def _configmap(kube: Clients, name: str = "dependent") -> Any:
    try:
        return kube.core.read_namespaced_config_map(name, "default")
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def _widget(kube: Clients, name: str = "owner") -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = kube.custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def _delete_widget(kube: Clients, name: str = "owner", **body: Any) -> tuple[dict[str, Any], int]:
    data, status, _headers = kube.custom.delete_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, name, body=body or None)
    return data, status


def _release(kube: Clients, name: str = "dependent") -> None:
    kube.core.patch_namespaced_config_map(name, "default", {"metadata": {"finalizers": None}},
                                          _content_type=MERGE_PATCH)


# --- background ---------------------------------------------------------------------------------------------


def test_deleting_an_owner_by_default_garbage_collects_its_dependent_in_the_background(kube: Clients) -> None:
    _dependent(kube, _owner(kube))

    deleted, status = _delete_widget(kube)

    assert status == 200
    assert deleted["metadata"]["name"] == "owner"
    assert _widget(kube) is None
    eventually(lambda: _configmap(kube) is None, what="the dependent is collected")


def test_a_background_delete_does_not_wait_for_a_dependent_that_has_a_finalizer(kube: Clients) -> None:
    _dependent(kube, _owner(kube), block_owner_deletion=True, finalizers=[HOLD])

    _delete_widget(kube, propagationPolicy="Background")

    assert _widget(kube) is None
    dependent = eventually(lambda: (cm := _configmap(kube)) is not None and cm.metadata.deletion_timestamp and cm,
                           what="the dependent is being deleted")
    assert dependent.metadata.finalizers == [HOLD]


def test_a_dependent_of_two_owners_survives_one_of_them_and_loses_its_reference(kube: Clients) -> None:
    first, second = _owner(kube, "first"), _owner(kube, "second")
    body = configmap("dependent", owner=first)
    body["metadata"]["ownerReferences"].append({"apiVersion": "example.com/v1", "kind": "Widget", "name": "second",
                                                "uid": second["metadata"]["uid"]})
    kube.core.create_namespaced_config_map("default", body)

    _delete_widget(kube, "first")

    refs = eventually(lambda: len(_configmap(kube).metadata.owner_references) == 1
                      and _configmap(kube).metadata.owner_references, what="the dangling reference is removed")
    assert [(r.name, r.uid) for r in refs] == [("second", second["metadata"]["uid"])]


def test_a_dependent_whose_owner_does_not_exist_is_garbage_collected(kube: Clients) -> None:
    ghost = widget("ghost")
    ghost["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"

    _dependent(kube, ghost)

    eventually(lambda: _configmap(kube) is None, what="the orphan of a missing owner is collected")


# --- orphan -------------------------------------------------------------------------------------------------


def test_an_orphan_delete_keeps_the_dependent_and_removes_its_owner_reference(kube: Clients) -> None:
    _dependent(kube, _owner(kube))

    _delete_widget(kube, propagationPolicy="Orphan")

    eventually(lambda: _widget(kube) is None, what="the owner is deleted")
    dependent = _configmap(kube)
    assert dependent is not None
    assert dependent.metadata.owner_references is None
    assert dependent.metadata.deletion_timestamp is None


def test_an_orphan_delete_answers_200_with_the_owner_marked_by_the_orphan_finalizer(kube: Clients) -> None:
    _dependent(kube, _owner(kube, finalizers=[HOLD]))

    deleted, status = _delete_widget(kube, propagationPolicy="Orphan")

    assert status == 200
    assert deleted["metadata"]["deletionTimestamp"]
    assert deleted["metadata"]["finalizers"] == [HOLD, "orphan"]


def test_orphan_dependents_false_answers_202_accepted_while_the_owner_is_not_yet_gone(kube: Clients) -> None:
    _owner(kube, finalizers=[HOLD])

    _deleted, status = _delete_widget(kube, orphanDependents=False)

    assert status == 202
    owner = _widget(kube)
    assert owner is not None
    assert owner["metadata"]["deletionTimestamp"]


# --- foreground ---------------------------------------------------------------------------------------------


def test_a_foreground_delete_answers_200_with_the_owner_marked_by_the_foreground_finalizer(kube: Clients) -> None:
    _dependent(kube, _owner(kube), block_owner_deletion=True, finalizers=[HOLD])

    deleted, status = _delete_widget(kube, propagationPolicy="Foreground")

    assert status == 200
    assert deleted["metadata"]["deletionTimestamp"]
    assert deleted["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_a_foreground_delete_waits_for_a_blocking_dependent_before_deleting_the_owner(kube: Clients) -> None:
    _dependent(kube, _owner(kube), block_owner_deletion=True, finalizers=[HOLD])

    _delete_widget(kube, propagationPolicy="Foreground")

    dependent = eventually(lambda: (cm := _configmap(kube)) is not None and cm.metadata.deletion_timestamp and cm,
                           what="the garbage collector deletes the dependent")
    assert dependent.metadata.finalizers == [HOLD]
    owner = _widget(kube)
    assert owner is not None
    assert owner["metadata"]["finalizers"] == ["foregroundDeletion"]

    _release(kube)

    eventually(lambda: _widget(kube) is None, what="the owner goes once its dependent is gone")
    assert _configmap(kube) is None


def test_a_foreground_delete_does_not_wait_for_a_dependent_without_block_owner_deletion(kube: Clients) -> None:
    _dependent(kube, _owner(kube), block_owner_deletion=False, finalizers=[HOLD])

    _delete_widget(kube, propagationPolicy="Foreground")

    eventually(lambda: _widget(kube) is None, what="the owner is deleted without waiting")
    dependent = _configmap(kube)
    assert dependent is not None
    assert dependent.metadata.deletion_timestamp is not None
    assert dependent.metadata.finalizers == [HOLD]


def test_a_foreground_delete_removes_every_dependent_then_the_owner(kube: Clients) -> None:
    owner = _owner(kube)
    for name in ("d1", "d2", "d3"):
        _dependent(kube, owner, name, block_owner_deletion=True)

    _delete_widget(kube, propagationPolicy="Foreground")

    eventually(lambda: _widget(kube) is None, what="the owner is deleted")
    assert [_configmap(kube, name) for name in ("d1", "d2", "d3")] == [None, None, None]


# --- invalid options ----------------------------------------------------------------------------------------


def test_an_unknown_propagation_policy_is_rejected_as_invalid_delete_options(kube: Clients) -> None:
    _owner(kube)

    with pytest.raises(ApiException) as caught:
        _delete_widget(kube, propagationPolicy="Sideways")

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                               '"Sideways": supported values: "Foreground", "Background", "Orphan", "nil"')
    assert _widget(kube) is not None
