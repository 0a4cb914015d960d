"""The official kubernetes client against envtest: resourceVersion is one global, monotonically increasing
counter (etcd's revision) across every kind, and a write that changes nothing keeps it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from ._kube import (
    GROUP,
    MERGE_PATCH,
    PLURAL,
    VERSION,
    Clients,
    configmap,
    status_of,
    widget,
)


def _rv(obj: Any) -> int:
    if isinstance(obj, dict):
        return int(obj["metadata"]["resourceVersion"])
    return int(obj.metadata.resource_version)


def _events_since(kube: Clients, resource_version: int) -> list[tuple[str, str]]:
    stream = watch.Watch().stream(kube.core.list_namespaced_config_map, "default",
                                  resource_version=str(resource_version), timeout_seconds=1)
    return [(event["type"], event["object"].metadata.name) for event in stream]


def test_resource_versions_of_writes_to_different_kinds_come_from_one_increasing_counter(kube: Clients) -> None:
    versions = [
        _rv(kube.core.create_namespaced_config_map("default", configmap("c1"))),
        _rv(kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w1"))),
        _rv(kube.core.create_namespaced_secret("default", {"metadata": {"name": "s1"}, "stringData": {"a": "b"}})),
        _rv(kube.core.patch_namespaced_config_map("c1", "default", {"data": {"key": "v2"}},
                                                  _content_type=MERGE_PATCH)),
        _rv(kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1",
                                                       {"spec": {"port": 80}}, _content_type=MERGE_PATCH)),
        _rv(kube.core.create_namespaced_config_map("default", configmap("c2"))),
    ]

    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


def test_a_list_reports_the_global_resource_version_not_the_newest_of_its_own_kind(kube: Clients) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c1"))
    latest = _rv(kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w1")))

    listed = kube.core.list_namespaced_config_map("default")

    assert int(listed.metadata.resource_version) >= latest


def test_every_update_gives_the_object_a_larger_resource_version(kube: Clients) -> None:
    created = _rv(kube.core.create_namespaced_config_map("default", configmap("c")))

    updated = _rv(kube.core.replace_namespaced_config_map("c", "default", configmap("c", data={"key": "new"})))
    patched = _rv(kube.core.patch_namespaced_config_map("c", "default", {"data": {"more": "x"}},
                                                        _content_type=MERGE_PATCH))

    assert created < updated < patched


def test_a_no_op_replace_returns_the_same_resource_version_and_sends_no_event(kube: Clients) -> None:
    current = kube.core.create_namespaced_config_map("default", configmap("c"))

    replaced = kube.core.replace_namespaced_config_map("c", "default", current)

    assert _rv(replaced) == _rv(current)
    assert _events_since(kube, _rv(current)) == []


def test_a_no_op_merge_patch_returns_the_same_resource_version(kube: Clients) -> None:
    current = kube.core.create_namespaced_config_map("default", configmap("c"))

    patched = kube.core.patch_namespaced_config_map("c", "default", {"data": {"key": "value"}},
                                                    _content_type=MERGE_PATCH)

    assert _rv(patched) == _rv(current)


def test_a_no_op_widget_patch_keeps_the_resource_version_and_generation(kube: Clients) -> None:
    current = kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w"))

    patched = kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w",
                                                         {"spec": {"mode": "tunnel", "replicas": 1}},
                                                         _content_type=MERGE_PATCH)

    assert _rv(patched) == _rv(current)
    assert patched["metadata"]["generation"] == 1


def test_a_deletion_gets_a_resource_version_of_its_own(kube: Clients) -> None:
    created = _rv(kube.core.create_namespaced_config_map("default", configmap("c")))
    kube.core.delete_namespaced_config_map("c", "default")
    after = _rv(kube.core.create_namespaced_config_map("default", configmap("d")))

    w = watch.Watch()
    events = []
    for event in w.stream(kube.core.list_namespaced_config_map, "default", resource_version=str(created),
                          timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name, _rv(event["object"])))
        if len(events) == 2:
            w.stop()

    assert [e[:2] for e in events] == [("DELETED", "c"), ("ADDED", "d")]
    assert created < events[0][2] < after


def test_getting_an_object_returns_the_resource_version_of_its_last_write(kube: Clients) -> None:
    written = kube.core.create_namespaced_config_map("default", configmap("c"))
    kube.core.create_namespaced_config_map("default", configmap("d"))

    assert _rv(kube.core.read_namespaced_config_map("c", "default")) == _rv(written)


def test_a_list_at_a_resource_version_newer_than_the_server_has_fails_with_504_too_large(kube: Clients) -> None:
    current = _rv(kube.core.create_namespaced_config_map("default", configmap("c")))
    with pytest.raises(ApiException) as caught:
        kube.core.list_namespaced_config_map("default", resource_version=str(current + 1000),
                                             resource_version_match="NotOlderThan")

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (504, "Timeout")
    assert body["message"] == f"Timeout: Too large resource version: {current + 1000}, current: {current}"
    assert body["details"] == {
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }
